"""hfops: declarative Hugging Face Inference Endpoints (TGI) for GenStudio.

Manifests describe the endpoints you want; `hfops plan` shows the difference with what exists,
`hfops apply` makes it so and writes the GenStudio credential for each endpoint.
"""

__version__ = "0.1.0"
