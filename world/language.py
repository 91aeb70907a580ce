"""Shared wording helpers: articles, number words, noun phrases and lists."""

from __future__ import annotations

from .facts import SceneObject

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def article(phrase: str) -> str:
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def with_article(phrase: str) -> str:
    return f"{article(phrase)} {phrase}"


def noun(obj: SceneObject, colour: bool = True, size: bool = False) -> str:
    """'small red car': the kind name with the attributes asked for, where the object has them."""
    words = []
    if size and obj.size:
        words.append(obj.size)
    if colour and obj.colour:
        words.append(obj.colour)
    words.append(obj.kind.name)
    return " ".join(words)


def counted(count: int, singular: str, plural: str) -> str:
    """'a dog', 'two dogs'."""
    if count == 1:
        return with_article(singular)
    return f"{NUMBER_WORDS[count]} {plural}"


def join_list(items: list[str]) -> str:
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def relation_text(relation: str, choice: float) -> str:
    """One of the wordings of a canonical relation; `choice` in [0, 1) picks it."""
    variants = {
        "left of": ("left of", "to the left of"),
        "right of": ("right of", "to the right of"),
        "above": ("above", "over"),
        "below": ("below", "under", "beneath"),
        "next to": ("next to", "beside", "near"),
    }[relation]
    return variants[int(choice * len(variants))]
