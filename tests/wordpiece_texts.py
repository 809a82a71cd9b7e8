"""Texts in three scripts, shared by the WordPiece tests (one module so they agree)."""

ENGLISH = [
    "The cats sat on the mat, happily!",
    "The dog sat; the dogs barked at the cats.",
    "Unbelievable: cat-like dogs and dog-like cats.",
    "Cats and dogs are playing in the garden.",
]
RUSSIAN = [
    "Кошки сидели на ковре, счастливо!",
    "Собака сидела; собаки лаяли на кошек.",
    "Невероятно: кошачьи собаки и собачьи кошки.",
]
JAPANESE = [
    "猫はマットの上に座った。",
    "犬が座り、犬たちは猫に吠えた。",
    "信じられない：猫のような犬と犬のような猫。",
]
CORPUS = ENGLISH + RUSSIAN + JAPANESE
