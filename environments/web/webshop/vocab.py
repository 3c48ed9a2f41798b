"""The shop's public structure: categories, product types, their attributes and option kinds.

This vocabulary is what a shopper may know about the shop in general (which kinds of products
exist, which attributes and options they are described by); it names no product. Attribute
phrases and option values never overlap, so an instruction can be read unambiguously.
Changing anything here changes every catalogue: bump the environment's version.
"""

from __future__ import annotations

from dataclasses import dataclass

COLORS = ("black", "white", "navy blue", "gray", "red", "green", "beige", "brown", "pink", "purple", "sky blue")
APPAREL_SIZES = ("small", "medium", "large", "x-large", "xx-large")
SHOE_SIZES = ("us 7", "us 8", "us 9", "us 10", "us 11", "us 12")
PACKS = ("pack of 2", "pack of 4", "pack of 6", "pack of 12", "pack of 24")
BED_SIZES = ("twin", "full", "queen", "king")

OPTION_PHRASES = {
    "color": "in {} color",
    "size": "in size {}",
    "flavor": "in {} flavor",
    "scent": "with {} scent",
    "count": "{}",
    "length": "{} long",
    "capacity": "with {} capacity",
    "model": "for {}",
}
"""How an instruction names an option value of each kind."""


@dataclass(frozen=True)
class ProductType:
    """A kind of product: its name (as instructions and titles say it), the article an
    instruction puts before it ("" for plurals), its attribute phrases, its option kinds
    with their possible values, and its price range in dollars."""

    name: str
    category: str
    article: str
    attributes: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]
    price_range: tuple[float, float]


def _t(name, category, article, attributes, options, price_range) -> ProductType:
    return ProductType(name, category, article, tuple(attributes), tuple(options.items()), price_range)


_BEAUTY = ("cruelty free", "paraben free", "long lasting", "natural ingredients", "dermatologist tested", "vegan")
_FOOD = ("gluten free", "non gmo", "low sugar", "high protein", "keto friendly", "organic", "dairy free", "kosher")
_CLOTHES = ("machine washable", "moisture wicking", "quick drying", "breathable", "lightweight", "soft fabric")
_HOME = ("easy to clean", "easy assembly", "space saving", "heavy duty", "eco friendly", "fade resistant")
_TECH = ("fast charging", "water resistant", "long battery life", "lightweight", "shockproof", "easy to install")

PRODUCT_TYPES: tuple[ProductType, ...] = (
    # beauty and personal care
    _t(
        "shampoo",
        "beauty",
        "a",
        _BEAUTY + ("sulfate free", "color safe"),
        {
            "scent": ("lavender", "coconut", "tea tree", "citrus", "unscented", "rose"),
            "size": ("8 fl oz", "12 fl oz", "16 fl oz", "32 fl oz"),
        },
        (6, 40),
    ),
    _t(
        "face moisturizer",
        "beauty",
        "a",
        _BEAUTY + ("oil free", "fragrance free", "anti aging"),
        {"size": ("1.7 fl oz", "2.5 fl oz", "4 fl oz")},
        (9, 60),
    ),
    _t(
        "lipstick",
        "beauty",
        "a",
        _BEAUTY + ("matte finish", "moisturizing"),
        {"color": ("ruby red", "nude", "coral", "berry", "mauve", "hot pink")},
        (5, 35),
    ),
    _t(
        "nail polish",
        "beauty",
        "a",
        _BEAUTY + ("quick dry", "chip resistant", "high gloss"),
        {"color": ("ruby red", "nude", "coral", "berry", "mauve", "hot pink", "midnight blue"), "count": PACKS[:3]},
        (4, 30),
    ),
    _t(
        "hair dryer",
        "beauty",
        "a",
        (
            "ionic technology",
            "fast drying",
            "low noise",
            "lightweight",
            "foldable handle",
            "travel size",
            "easy to use",
        ),
        {"color": ("black", "white", "rose gold", "purple")},
        (18, 120),
    ),
    _t(
        "body lotion",
        "beauty",
        "a",
        _BEAUTY + ("fragrance free", "non greasy", "for dry skin"),
        {"scent": ("lavender", "coconut", "vanilla", "shea butter", "unscented"), "size": ("8 fl oz", "16 fl oz")},
        (5, 30),
    ),
    _t(
        "makeup brush set",
        "beauty",
        "a",
        ("cruelty free", "vegan", "soft bristles", "travel size", "easy to clean", "synthetic hair"),
        {"color": ("black", "rose gold", "pink", "white"), "count": ("pack of 6", "pack of 12")},
        (8, 50),
    ),
    # grocery
    _t(
        "snack bar",
        "grocery",
        "a",
        _FOOD + ("individually wrapped", "low calorie"),
        {
            "flavor": ("chocolate", "peanut butter", "blueberry", "almond", "coconut cashew", "salted caramel"),
            "count": PACKS[1:],
        },
        (6, 45),
    ),
    _t(
        "ground coffee",
        "grocery",
        "",
        _FOOD[:2] + ("organic", "fair trade", "low acid", "kosher", "decaf"),
        {
            "flavor": ("french vanilla", "hazelnut", "dark roast", "medium roast", "mocha"),
            "size": ("12 oz", "24 oz", "2 lb"),
        },
        (8, 45),
    ),
    _t(
        "herbal tea",
        "grocery",
        "",
        ("caffeine free", "organic", "non gmo", "kosher", "gluten free", "sugar free", "individually wrapped"),
        {
            "flavor": ("chamomile", "peppermint", "ginger lemon", "hibiscus", "rooibos"),
            "count": ("20 tea bags", "40 tea bags", "100 tea bags"),
        },
        (4, 30),
    ),
    _t(
        "protein powder",
        "grocery",
        "",
        (
            "high protein",
            "keto friendly",
            "gluten free",
            "non gmo",
            "sugar free",
            "dairy free",
            "low carb",
            "plant based",
        ),
        {
            "flavor": ("chocolate", "vanilla", "strawberry", "cookies and cream", "unflavored"),
            "size": ("1 lb", "2 lb", "5 lb"),
        },
        (15, 80),
    ),
    _t(
        "cookies",
        "grocery",
        "",
        _FOOD + ("individually wrapped", "baked fresh"),
        {
            "flavor": ("chocolate chip", "oatmeal raisin", "double chocolate", "lemon", "snickerdoodle"),
            "count": PACKS[:4],
        },
        (4, 35),
    ),
    _t(
        "mixed nuts",
        "grocery",
        "",
        ("gluten free", "non gmo", "high protein", "keto friendly", "kosher", "lightly salted", "resealable bag"),
        {"flavor": ("honey roasted", "sea salt", "unsalted", "smoked"), "size": ("8 oz", "16 oz", "2 lb")},
        (6, 40),
    ),
    _t(
        "hot sauce",
        "grocery",
        "a",
        ("gluten free", "sugar free", "vegan", "non gmo", "low sodium", "small batch"),
        {"flavor": ("habanero", "chipotle", "ghost pepper", "garlic", "mango"), "count": PACKS[:3]},
        (4, 30),
    ),
    # fashion
    _t(
        "t-shirt",
        "fashion",
        "a",
        _CLOTHES + ("short sleeve", "crew neck", "cotton", "relaxed fit"),
        {"color": COLORS, "size": APPAREL_SIZES},
        (8, 35),
    ),
    _t(
        "hoodie",
        "fashion",
        "a",
        _CLOTHES + ("long sleeve", "kangaroo pocket", "fleece lined", "relaxed fit"),
        {"color": COLORS, "size": APPAREL_SIZES},
        (18, 65),
    ),
    _t(
        "running shoes",
        "fashion",
        "",
        ("non slip", "breathable", "lightweight", "rubber sole", "arch support", "memory foam", "wide toe box"),
        {"color": ("black", "white", "gray", "navy blue", "red", "pink"), "size": SHOE_SIZES},
        (30, 120),
    ),
    _t(
        "jeans",
        "fashion",
        "",
        (
            "machine washable",
            "slim fit",
            "relaxed fit",
            "stretch fabric",
            "button closure",
            "high waist",
            "straight leg",
        ),
        {"color": ("light wash", "medium wash", "dark wash", "black"), "size": ("28w", "30w", "32w", "34w", "36w")},
        (20, 80),
    ),
    _t(
        "dress",
        "fashion",
        "a",
        (
            "machine washable",
            "short sleeve",
            "long sleeve",
            "v neck",
            "midi length",
            "floral print",
            "with pockets",
            "lightweight",
        ),
        {"color": COLORS, "size": APPAREL_SIZES},
        (20, 90),
    ),
    _t(
        "socks",
        "fashion",
        "",
        ("moisture wicking", "cushioned sole", "breathable", "cotton", "no show", "arch support", "machine washable"),
        {"color": ("black", "white", "gray", "assorted"), "count": ("pack of 3", "pack of 6", "pack of 10")},
        (6, 30),
    ),
    _t(
        "winter jacket",
        "fashion",
        "a",
        ("water resistant", "windproof", "hooded", "fleece lined", "packable", "zip pockets", "machine washable"),
        {"color": COLORS[:8], "size": APPAREL_SIZES},
        (40, 180),
    ),
    # home and kitchen
    _t(
        "office chair",
        "home",
        "an",
        _HOME + ("lumbar support", "adjustable height", "ergonomic design", "swivel wheels"),
        {"color": ("black", "gray", "white", "blue")},
        (60, 300),
    ),
    _t(
        "bed sheet set",
        "home",
        "a",
        _HOME + ("deep pocket", "wrinkle free", "machine washable", "microfiber"),
        {"color": COLORS[:8], "size": BED_SIZES},
        (20, 90),
    ),
    _t(
        "throw pillow cover",
        "home",
        "a",
        _HOME + ("hidden zipper", "machine washable", "velvet", "for living room"),
        {"color": COLORS, "size": ("16x16 inch", "18x18 inch", "20x20 inch")},
        (6, 30),
    ),
    _t(
        "table lamp",
        "home",
        "a",
        ("dimmable", "usb port", "touch control", "for bedroom", "energy efficient", "easy assembly", "modern design"),
        {"color": ("black", "white", "brass", "silver", "wood")},
        (15, 90),
    ),
    _t(
        "area rug",
        "home",
        "an",
        _HOME + ("non slip", "stain resistant", "low pile", "for living room"),
        {"color": ("gray", "beige", "navy blue", "multicolor", "cream"), "size": ("2x3 ft", "5x7 ft", "8x10 ft")},
        (20, 250),
    ),
    _t(
        "bookshelf",
        "home",
        "a",
        _HOME + ("solid wood", "adjustable shelves", "industrial style"),
        {"color": ("black", "white", "walnut", "oak")},
        (35, 200),
    ),
    _t(
        "storage basket",
        "home",
        "a",
        _HOME + ("foldable", "with handles", "woven", "for closet"),
        {"color": ("beige", "gray", "white", "brown"), "count": ("pack of 2", "pack of 3", "pack of 4")},
        (10, 45),
    ),
    # electronics
    _t(
        "wireless earbuds",
        "electronics",
        "",
        _TECH + ("noise cancelling", "bluetooth 5.3", "charging case", "touch control"),
        {"color": ("black", "white", "navy blue", "pink")},
        (20, 150),
    ),
    _t(
        "phone case",
        "electronics",
        "a",
        (
            "shockproof",
            "slim fit",
            "wireless charging compatible",
            "raised edges",
            "clear back",
            "kickstand",
            "anti scratch",
        ),
        {
            "color": ("black", "clear", "blue", "pink", "green", "purple"),
            "model": ("iphone 14", "iphone 15", "galaxy s23", "galaxy s24", "pixel 8"),
        },
        (6, 35),
    ),
    _t(
        "usb c cable",
        "electronics",
        "a",
        ("fast charging", "braided nylon", "data sync", "durable", "tangle free", "right angle"),
        {"length": ("3 ft", "6 ft", "10 ft"), "count": ("pack of 2", "pack of 3", "pack of 5")},
        (5, 25),
    ),
    _t(
        "bluetooth speaker",
        "electronics",
        "a",
        _TECH + ("portable", "loud sound", "deep bass", "hands free"),
        {"color": ("black", "blue", "red", "gray", "green")},
        (20, 160),
    ),
    _t(
        "power bank",
        "electronics",
        "a",
        ("fast charging", "dual port", "compact", "lightweight", "led display", "usb c input", "travel friendly"),
        {"capacity": ("5000mah", "10000mah", "20000mah", "30000mah"), "color": ("black", "white", "blue")},
        (15, 70),
    ),
    _t(
        "wireless mouse",
        "electronics",
        "a",
        (
            "ergonomic design",
            "silent click",
            "rechargeable",
            "plug and play",
            "long battery life",
            "adjustable dpi",
            "compact",
        ),
        {"color": ("black", "white", "gray", "pink", "blue")},
        (8, 60),
    ),
    _t(
        "hdmi cable",
        "electronics",
        "an",
        ("high speed", "4k", "braided nylon", "gold plated", "ethernet support", "durable"),
        {"length": ("3 ft", "6 ft", "10 ft", "15 ft"), "count": ("pack of 2", "pack of 3")},
        (6, 30),
    ),
    _t(
        "smart watch band",
        "electronics",
        "a",
        ("water resistant", "adjustable", "quick release", "breathable", "soft silicone", "stainless steel"),
        {"color": ("black", "white", "navy blue", "pink", "green", "red"), "size": ("small", "large")},
        (6, 30),
    ),
)

CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(t.category for t in PRODUCT_TYPES))
TYPES_BY_NAME: dict[str, ProductType] = {t.name: t for t in PRODUCT_TYPES}
ALL_ATTRIBUTES: tuple[str, ...] = tuple(sorted({a for t in PRODUCT_TYPES for a in t.attributes}))
ALL_OPTION_VALUES: tuple[str, ...] = tuple(sorted({v for t in PRODUCT_TYPES for _, vs in t.options for v in vs}))

BRANDS = (
    "Acorna",
    "Belvio",
    "Corvane",
    "Dunmere",
    "Elsora",
    "Fennix",
    "Galora",
    "Hollin",
    "Ivanti",
    "Jorvik",
    "Kestra",
    "Lumora",
    "Marlowe",
    "Nuvio",
    "Orlen",
    "Pavora",
    "Quenby",
    "Ravella",
    "Solenne",
    "Tavio",
    "Umbria",
    "Veloza",
    "Wexley",
    "Xandra",
    "Yarrow",
    "Zephra",
    "Altura",
    "Brisa",
    "Calder",
    "Delmar",
)
SERIES = ("Classic", "Essential", "Premium", "Everyday", "Pro", "Ultra", "Signature", "Basics", "Select", "Original")
