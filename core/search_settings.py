"""The search-settings schema: the score's weights and the relevance cutoff of one model bundle.

Torch-free and file-free: the app loads and saves these (``app.settings``), the export copies a
checkpoint's tuned settings into each bundle's manifest after checking them here (``parse_settings``).
Why per bundle: cosines of two models live on different scales (a trained model's matching pairs may
sit at 0.4, another's at 0.25), so neither the weights nor a relevance threshold can be one constant
for every model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

CAPTION_FUSIONS = ("centred", "z", "words")
# The ITM re-order of a text query's first photos (``itm_head``) stops at the first chunk of photos past
# this many seconds of scoring, so a slow model shortens the head rather than the wait; the photos left
# keep their order.
RERANK_SECONDS = 1.0
DEFAULT_Z = 3.0  # used only for a bundle never tuned: a robust z-score, not a cosine, so model-agnostic
# A bundle whose view was never calibrated: the ITM head's even odds (a logit of 0) is the line between
# "sure" and "not sure", and the coarse best-region box stays hidden (not measured to help).
DEFAULT_BOX_CONFIDENCE = 0.0


@dataclass(frozen=True)
class Cutoff:
    """A photo is shown when its score's robust z-score among the library's scores for the same query
    reaches ``z`` (see ``search.score_stats``). ``fpr``/``tpr`` are what this z gave on the world's
    validation pairs; ``null_median``/``null_scale`` describe the scores of non-matching world pairs, the
    reference for a library too small to estimate the distribution of its own scores."""

    z: float = DEFAULT_Z
    fpr: float | None = None
    tpr: float | None = None
    null_median: float | None = None
    null_scale: float | None = None


@dataclass(frozen=True)
class ViewSettings:
    """What the result view may claim, measured by ``multigrain tune-view`` on the world's validation
    split: the grounded box is drawn as sure only when its ITM confidence reaches ``box_confidence``;
    the best candidate region is drawn only when ``best_region`` (it was measured to land on the
    referent more often than chance); ``image_weight`` is the default share of an example image in a
    text-plus-image query, chosen so both parts move the score alike."""

    box_confidence: float = DEFAULT_BOX_CONFIDENCE
    best_region: bool = False
    image_weight: float = 0.5
    tuned: bool = False
    report: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchSettings:
    w_global: float = 0.5  # cosine of the query with the photo's global embedding
    w_region: float = 0.5  # cosine with its best-matching candidate region
    w_caption: float = 0.5  # caption cosine, centred on the query's median caption cosine
    # How the caption term is calibrated: "centred" adds the centred cosine (it may sink a photo whose
    # caption is unrelated); "z" adds max(0, robust z of the caption cosine - caption_floor), evidence
    # that only lifts, so a photo is never ranked lower for lacking a caption (docs/similar.md); "words"
    # adds the lift of the captions' words above caption_floor (core.caption_words), which only lifts too.
    caption_fusion: str = "centred"
    caption_floor: float = 0.0
    # A text query's first ``itm_head`` photos re-ordered by the ITM head, plus ``w_region_itm`` times
    # the ITM of the region the words point at (``app.head_itm``); 0: off, as for a bundle never tuned,
    # since it decodes and encodes those photos again at every search.
    itm_head: int = 0
    w_region_itm: float = 0.0
    cutoff: Cutoff = field(default_factory=Cutoff)
    view: ViewSettings = field(default_factory=ViewSettings)  # absent in bundles built before: defaults
    tuned: bool = False
    source: str = "defaults (bundle not tuned: run `multigrain tune-search`)"
    report: dict[str, Any] = field(default_factory=dict)  # the measurements behind the choice

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchSettings:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        cutoff = known.pop("cutoff", None) or {}
        cutoff = Cutoff(**{k: v for k, v in cutoff.items() if k in Cutoff.__dataclass_fields__})
        view = known.pop("view", None) or {}
        view = ViewSettings(**{k: v for k, v in view.items() if k in ViewSettings.__dataclass_fields__})
        return cls(**known, cutoff=cutoff, view=view)


class SettingsError(ValueError):
    """Settings that cannot be used (wrong types, impossible weights)."""


def parse_settings(data: object) -> SearchSettings:
    """Strict reading of settings from JSON, for files a person hands over (a bundle's shipped ones)."""
    if not isinstance(data, dict):
        raise SettingsError("expected a JSON object")
    try:
        settings = SearchSettings.from_json(data)
    except TypeError as err:
        raise SettingsError(str(err)) from err
    weights = (settings.w_global, settings.w_region, settings.w_caption)
    if not all(isinstance(w, int | float) and 0.0 <= w <= 1.0 for w in weights):
        raise SettingsError(f"weights must be numbers in [0, 1], got {weights}")
    view = settings.view
    if not isinstance(view.image_weight, int | float) or not 0.0 <= view.image_weight <= 1.0:
        raise SettingsError(f"view image_weight must be a number in [0, 1], got {view.image_weight!r}")
    if not isinstance(view.box_confidence, int | float):
        raise SettingsError(f"view box_confidence must be a number, got {view.box_confidence!r}")
    if settings.caption_fusion not in CAPTION_FUSIONS:
        raise SettingsError(
            f"caption_fusion must be one of {CAPTION_FUSIONS}, got {settings.caption_fusion!r}"
        )
    if not isinstance(settings.itm_head, int) or isinstance(settings.itm_head, bool) or settings.itm_head < 0:
        raise SettingsError(f"itm_head must be a whole number of photos, got {settings.itm_head!r}")
    if not isinstance(settings.w_region_itm, int | float) or not 0.0 <= settings.w_region_itm <= 10.0:
        raise SettingsError(f"w_region_itm must be a number in [0, 10], got {settings.w_region_itm!r}")
    if not isinstance(settings.caption_floor, int | float):
        raise SettingsError(f"caption_floor must be a number, got {settings.caption_floor!r}")
    if not isinstance(settings.cutoff.z, int | float):
        raise SettingsError(f"cutoff z must be a number, got {settings.cutoff.z!r}")
    return settings
