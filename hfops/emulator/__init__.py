"""A local emulator of the Hugging Face Inference Endpoints API, the Hub routes hfops needs, and TGI.

Everything in hfops is tested against it through the real, unmodified `huggingface_hub` client over
real HTTP. It imports nothing from the rest of hfops (stdlib only; `click` in command.py).

    from hfops.emulator import Emulator, EmulatorConfig
    with Emulator(EmulatorConfig(provision_seconds=0.2)) as emu:
        huggingface_hub.constants.INFERENCE_ENDPOINTS_ENDPOINT = emu.url + "/v2"
        api = HfApi(endpoint=emu.url, token="hf_test")

Layout: catalog.py (models) and hardware.py (computes, quotas), config.py and variants.py (the
uncertain-point variants, U1-U13), clock.py, validation.py (parsing request bodies), semantics.py
(specs, merges, rules), store.py (endpoint state machine), render.py (JSON shapes), launcher.py (TGI
limits and start-up failures) with kvcache.py (the served window), tgi.py (fake TGI), hub.py (Hub
routes), routes.py (auth, namespaces, rate limit, dispatch) with ratelimit.py, faults.py (fault
injection), request_log.py, server.py (HTTP handler, Emulator, serve_forever), command.py
(`hfops emulator` click command).
"""

from .catalog import ModelEntry, load_models_file
from .config import EmulatorConfig
from .server import Emulator, serve_forever

__all__ = ["Emulator", "EmulatorConfig", "ModelEntry", "load_models_file", "serve_forever"]
