"""A local emulator of the Hugging Face Inference Endpoints API, the Hub routes hfops needs, and TGI.

Everything in hfops is tested against it through the real, unmodified `huggingface_hub` client over
real HTTP. It imports nothing from the rest of hfops (stdlib only; `click` in command.py).

    from hfops.emulator import Emulator, EmulatorConfig
    with Emulator(EmulatorConfig(provision_seconds=0.2)) as emu:
        huggingface_hub.constants.INFERENCE_ENDPOINTS_ENDPOINT = emu.url + "/v2"
        api = HfApi(endpoint=emu.url, token="hf_test")

Layout: catalog.py (models, hardware), config.py, clock.py, validation.py (request bodies),
store.py (endpoint state machine), tgi.py (fake TGI), hub.py (Hub routes), routes.py (auth and
dispatch), faults.py (fault injection), request_log.py, server.py (HTTP handler, Emulator,
serve_forever), command.py (`hfops emulator` click command).
"""

from .catalog import ModelEntry, load_models_file
from .config import EmulatorConfig
from .server import Emulator, serve_forever

__all__ = ["Emulator", "EmulatorConfig", "ModelEntry", "load_models_file", "serve_forever"]
