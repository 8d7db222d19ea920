"""hfops: declarative Hugging Face Inference Endpoints (TGI) for GenStudio.

Manifests describe the endpoints you want; `hfops plan` shows the difference with what exists,
`hfops apply` makes it so and writes the GenStudio credential for each endpoint.
"""

__version__ = "0.1.0"


def main() -> None:
    """The console script: `hfops --version` alone is answered here, as click's version option
    answers it (`hfops.cli`), before click and the commands are imported (~40 ms of `--help`'s
    60 ms); everything else is the command line's (`hfops.cli.main`)."""
    import sys

    if sys.argv[1:] == ["--version"]:
        import os

        try:  # straight to the descriptor: nothing is left in a buffer to fail again at exit
            os.write(1, f"hfops, version {__version__}\n".encode())
        except OSError:
            pass  # stdout closed, a closed pipe, a full disk: click's path answers as it always has
        else:
            return
    from hfops.cli import main as command_line

    command_line()
