"""The object kinds and colours a synthetic scene can hold.

Each kind is one emoji of the Noto Color Emoji font.  The name is what the text uses ("car", never
"red car": colour is an attribute), and `colourable` says whether a colour word is natural for the
kind, so only those kinds get recoloured and named with a colour.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    plural: str
    emoji: str
    category: str
    colourable: bool


# Category nouns used by summary captions ("two animals and a vehicle").
CATEGORY_NOUNS: dict[str, tuple[str, str]] = {
    "animal": ("animal", "animals"),
    "vehicle": ("vehicle", "vehicles"),
    "food": ("food item", "food items"),
    "plant": ("plant", "plants"),
    "person": ("person", "people"),
    "object": ("object", "objects"),
}

# Emojis were picked by eye for clearly different silhouettes; ones drawn on a square backdrop
# (surfer, skier, swimmer), faces and flags are left out because their boxes would not be the thing.
KINDS: tuple[Kind, ...] = (
    # animals
    Kind("dog", "dogs", "\U0001f415", "animal", False),
    Kind("cat", "cats", "\U0001f408", "animal", False),
    Kind("horse", "horses", "\U0001f40e", "animal", False),
    Kind("cow", "cows", "\U0001f404", "animal", False),
    Kind("pig", "pigs", "\U0001f416", "animal", False),
    Kind("sheep", "sheep", "\U0001f411", "animal", False),
    Kind("rabbit", "rabbits", "\U0001f407", "animal", False),
    Kind("bird", "birds", "\U0001f426", "animal", False),
    Kind("duck", "ducks", "\U0001f986", "animal", False),
    Kind("chicken", "chickens", "\U0001f413", "animal", False),
    Kind("elephant", "elephants", "\U0001f418", "animal", False),
    Kind("giraffe", "giraffes", "\U0001f992", "animal", False),
    Kind("turtle", "turtles", "\U0001f422", "animal", False),
    Kind("fish", "fish", "\U0001f41f", "animal", False),
    Kind("butterfly", "butterflies", "\U0001f98b", "animal", False),
    Kind("penguin", "penguins", "\U0001f427", "animal", False),
    Kind("monkey", "monkeys", "\U0001f412", "animal", False),
    Kind("crab", "crabs", "\U0001f980", "animal", False),
    # vehicles
    Kind("car", "cars", "\U0001f697", "vehicle", True),
    Kind("bus", "buses", "\U0001f68c", "vehicle", False),
    Kind("truck", "trucks", "\U0001f69a", "vehicle", False),
    Kind("bicycle", "bicycles", "\U0001f6b2", "vehicle", False),
    Kind("motorcycle", "motorcycles", "\U0001f3cd", "vehicle", True),
    Kind("airplane", "airplanes", "\u2708", "vehicle", False),
    Kind("boat", "boats", "\u26f5", "vehicle", False),
    Kind("train", "trains", "\U0001f682", "vehicle", False),
    Kind("helicopter", "helicopters", "\U0001f681", "vehicle", False),
    Kind("tractor", "tractors", "\U0001f69c", "vehicle", False),
    Kind("rocket", "rockets", "\U0001f680", "vehicle", False),
    Kind("scooter", "scooters", "\U0001f6f5", "vehicle", True),
    # food
    Kind("banana", "bananas", "\U0001f34c", "food", False),
    Kind("apple", "apples", "\U0001f34e", "food", False),
    Kind("pizza", "pizzas", "\U0001f355", "food", False),
    Kind("cake", "cakes", "\U0001f370", "food", False),
    Kind("watermelon", "watermelons", "\U0001f349", "food", False),
    Kind("carrot", "carrots", "\U0001f955", "food", False),
    Kind("strawberry", "strawberries", "\U0001f353", "food", False),
    Kind("doughnut", "doughnuts", "\U0001f369", "food", False),
    Kind("pineapple", "pineapples", "\U0001f34d", "food", False),
    Kind("hamburger", "hamburgers", "\U0001f354", "food", False),
    # plants
    Kind("tree", "trees", "\U0001f333", "plant", False),
    Kind("palm tree", "palm trees", "\U0001f334", "plant", False),
    Kind("cactus", "cacti", "\U0001f335", "plant", False),
    Kind("sunflower", "sunflowers", "\U0001f33b", "plant", False),
    Kind("tulip", "tulips", "\U0001f337", "plant", True),
    Kind("potted plant", "potted plants", "\U0001fab4", "plant", False),
    # people
    Kind("person", "people", "\U0001f6b6", "person", False),
    Kind("runner", "runners", "\U0001f3c3", "person", False),
    Kind("dancer", "dancers", "\U0001f483", "person", False),
    Kind("cyclist", "cyclists", "\U0001f6b4", "person", False),
    # household and other things
    Kind("chair", "chairs", "\U0001fa91", "object", False),
    Kind("bed", "beds", "\U0001f6cf", "object", False),
    Kind("clock", "clocks", "\u23f0", "object", False),
    Kind("umbrella", "umbrellas", "\u2602", "object", True),
    Kind("ball", "balls", "\U0001f3c0", "object", True),
    Kind("balloon", "balloons", "\U0001f388", "object", True),
    Kind("shirt", "shirts", "\U0001f455", "object", True),
    Kind("dress", "dresses", "\U0001f457", "object", True),
    Kind("cap", "caps", "\U0001f9e2", "object", True),
    Kind("cup", "cups", "\u2615", "object", False),
    Kind("key", "keys", "\U0001f511", "object", False),
    Kind("book", "books", "\U0001f4d5", "object", True),
    Kind("guitar", "guitars", "\U0001f3b8", "object", True),
    Kind("kite", "kites", "\U0001fa81", "object", False),
    Kind("backpack", "backpacks", "\U0001f392", "object", True),
    Kind("sofa", "sofas", "\U0001f6cb", "object", True),
    Kind("television", "televisions", "\U0001f4fa", "object", False),
    Kind("laptop", "laptops", "\U0001f4bb", "object", False),
    Kind("gift", "gifts", "\U0001f381", "object", False),
    Kind("teddy bear", "teddy bears", "\U0001f9f8", "object", False),
    Kind("shoe", "shoes", "\U0001f45f", "object", True),
)

KIND_BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}

# Named colours and the RGB a recoloured object's main body gets.  Kept saturated and away from each
# other in hue so that the colour word is unmistakable after lighting changes and JPEG.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (212, 30, 30),
    "blue": (30, 75, 215),
    "green": (35, 160, 55),
    "yellow": (240, 212, 35),
    "purple": (130, 50, 185),
    "orange": (240, 120, 20),
    "white": (238, 238, 238),
    "black": (32, 32, 32),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)
