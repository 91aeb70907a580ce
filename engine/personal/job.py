"""The torch side of ``multigrain teach``, run as a child process: ``python -m engine.personal.job SPEC``.

The app never imports torch, so it writes what teaching needs into a folder and starts this module:
- ``spec.json``: the checkpoint, the name and its kind and slot, the boxes, the settings;
- ``pixels.npy``: the teaching photos as the runtime preprocessed them (k, 3, S, S), decoded upright by
  the app, so the child decodes nothing and sees exactly what the bundle sees;
- ``negatives.npy``: other library photos' global embeddings, read from the index (M, D).
The teaching photos go through the vision trunk once here (their image tokens are not stored in the
library); no other photo does. The result, ``token.npy`` (H,) and ``result.json``, is written only when
teaching finished; the parent stores it. Lines on stdout report progress ("step 10/40").
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

EXIT_FAILED, EXIT_CANCELLED = 2, 130
PRINT_EVERY = 5  # steps between progress lines


def _say(line: str) -> None:
    print(line, flush=True)


def _pixel_boxes(boxes: list[list[float]], size: int) -> list[tuple[float, float, float, float]]:
    # The eval resize stretches the photo to S x S, so fractions of the photo are fractions of the input.
    return [(x * size, y * size, w * size, h * size) for x, y, w, h in boxes]


def run(folder: Path) -> dict[str, Any]:
    import torch

    from engine.checkpoint import load_checkpoint
    from engine.personal.teach import TeachPhoto, TeachSettings, teach_name

    spec = json.loads((folder / "spec.json").read_text())
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    start = time.perf_counter()
    _say(f"loading the model from {spec['checkpoint']}")
    model, _ = load_checkpoint(spec["checkpoint"], verify_hash=False)  # the parent checked the hash
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.float().eval().to(device)
    loaded = time.perf_counter()
    _say(f"teaching on {device.type}")
    pixels = torch.from_numpy(np.load(folder / "pixels.npy")).to(device)
    negatives = torch.from_numpy(np.load(folder / "negatives.npy")).float().to(device)
    size = model.cfg.vision.image_size
    if tuple(pixels.shape[1:]) != (3, size, size):
        shape = tuple(pixels.shape[1:])
        raise ValueError(f"teaching photos are {shape}, the model takes (3, {size}, {size})")
    with torch.no_grad():
        image = model.encode_image(pixels)
    _say(f"encoded the {len(pixels)} teaching photos (photos re-encoded: {len(pixels)}; library photos: 0)")
    photos = [
        TeachPhoto(tokens, embed, size, size, box, others)
        for tokens, embed, box, others in zip(
            image.tokens,
            image.embed,
            _pixel_boxes(spec["boxes"], size),
            (_pixel_boxes(o, size) for o in spec["others"]),
            strict=True,
        )
    ]
    settings = TeachSettings(
        method=spec["method"],
        steps=int(spec["steps"]),
        lr=float(spec["lr"]),
        jitter=int(spec.get("jitter", 0)),  # a parent from before jitter sends none
    )

    def progress(step: int, steps: int, losses: dict[str, float]) -> None:
        if step % PRINT_EVERY == 0 or step == steps:
            parts = "  ".join(f"{k} {v:.3f}" for k, v in losses.items())
            _say(f"step {step}/{steps}  {parts}")

    taught, stats = teach_name(
        model, spec["name"], spec["kind"], int(spec["slot"]), photos, negatives, [], settings, progress
    )
    token = taught.params.token
    if token is None:  # only the token method is stored by the app (see docs/personal.md)
        raise ValueError(f"method {spec['method']!r} learns no token")
    np.save(folder / "token.npy", token.detach().float().cpu().numpy())
    result = {
        "seconds_load": round(loaded - start, 2),
        "seconds_teach": round(stats.seconds, 2),
        "steps": stats.steps,
        "photos_encoded": len(pixels),
        "device": device.type,
        "vision_passes_while_teaching": stats.vision_passes,
        "losses": stats.final_losses,
    }
    (folder / "result.json").write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m engine.personal.job FOLDER", file=sys.stderr)
        return EXIT_FAILED
    try:
        run(Path(argv[0]))
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    except ModuleNotFoundError as err:
        print(f"teaching needs the engine's packages ({err.name} is not installed)", file=sys.stderr)
        return EXIT_FAILED
    except Exception as err:  # a sentence for the person, never a traceback
        print(f"teaching failed: {err}", file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
