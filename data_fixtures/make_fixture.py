"""Writes the kit's offline fixture: a small FakeNewsNet-shaped CSV and a sentencepiece tokenizer trained on it.

Deterministic: the same seed gives byte-identical files (the tokenizer is trained with one thread on a fixed
sample). Run from the repository root:  python data_fixtures/make_fixture.py
What the headlines contain, and why, is in data_fixtures/README.md.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from pathlib import Path

from autograder.data import train_tokenizer

HERE = Path(__file__).resolve().parent

# Fictional people and outlets: the headlines read like celebrity news without naming anyone real.
PEOPLE = [
    "Maya Lorne", "Derek Hale", "Tessa Quinn", "Jonah Reyes", "Lila Marsh", "Owen Pratt", "Nadia Cole",
    "Felix Grant", "Ruby Sloane", "Caleb Moss", "Iris Vance", "Marco Bell", "Zara Kent", "Hugo Lane",
    "Elena Cruz", "Theo Ward",
]
OUTLETS = [
    "the tabloid", "the studio", "the network", "the label", "the magazine", "the talk show",
    "the streaming giant", "the fashion house", "the record company", "the film festival",
    "the gossip site", "the late night show", "the podcast", "the publisher",
]
VERBS = [
    "sues", "slams", "thanks", "praises", "blasts", "leaves", "joins", "quits", "defends", "snubs",
    "backs", "mocks", "hires", "drops", "visits", "calls out",
]
ADVERBS = ["reportedly", "secretly", "publicly", "finally", "quietly", "officially"]
OPENERS = [
    "Exclusive:", "Report:", "Watch:", "Breaking:", "Update:", "Inside the feud:", "Sources say", "Fans stunned as",
    "It's official:", "Revealed:", "Confirmed:", "Rumor mill:",
]
CONTEXTS = [
    "after the awards show", "weeks after the surprise wedding", "following the red carpet drama",
    "amid rumors of a secret reunion", "days before the season finale", "after a leaked video",
    "as the world tour kicks off", "after the viral interview", "ahead of the big premiere",
    "in the middle of the holiday season", "after the split", "as the new album drops",
    "after a tense week in Los Angeles", "following a heated exchange online", "after the charity gala",
]
AFTERMATHS = [
    "months of silence", "a string of cryptic posts", "a leaked text message", "a very public breakup",
    "a surprise comeback", "a wave of fan theories", "a canceled tour", "a shocking lawsuit", "an awkward photo",
    "a late night rant", "a bitter contract dispute", "a flurry of denials",
]
WHEN = ["last weekend", "on social media", "this summer", "in Las Vegas", "late on Friday", "at the premiere party"]
DOMAINS = [
    "people.example.com", "eonline.example.com", "usmagazine.example.com", "hollywoodlife.example.com",
    "radaronline.example.com", "etonline.example.com", "gossipcop.example.com", "vanityfair.example.com",
]


def headline(rng: random.Random, real: int) -> str:
    """One headline. The label lives in word order alone: a real one ends on an outlet (person VERB outlet), a fake
    one on a person (outlet VERB person). Both classes draw every word from the same lists with the same odds."""
    person, outlet = rng.choice(PEOPLE), rng.choice(OUTLETS)
    subject, obj = (person, outlet) if real else (outlet, person)
    opener, context = rng.choice(OPENERS), rng.choice(CONTEXTS)
    # Long headlines (about 20-28 tokens) leave few padding steps after the words that decide the label.
    context += f" and {rng.choice(AFTERMATHS)}"
    if rng.random() < 0.7:
        context += f" {rng.choice(WHEN)}"
    adverb = rng.choice(ADVERBS) + " " if rng.random() < 0.5 else ""
    clause = f"{subject} {adverb}{rng.choice(VERBS)} {obj}"
    if opener.endswith(":"):
        context = context[0].upper() + context[1:]
    return f"{opener} {context}, {clause}"


MAX_WORDS = 19


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


def make_rows(n_rows: int, real_fraction: float, seed: int, noise: float = 0.0) -> list[dict[str, object]]:
    """`n_rows` headlines, `real_fraction` of them real. With `noise`, that share of the headlines is worded as the
    other class would word it (its label kept): data as hard as the real FakeNewsNet, where no model separates every
    headline (balanced accuracy at most about 1 - noise)."""
    rng = random.Random(seed)
    n_real = round(n_rows * real_fraction)
    labels = [1] * n_real + [0] * (n_rows - n_real)
    rng.shuffle(labels)
    rows, seen = [], set()
    for real in labels:
        worded_as = 1 - real if noise and rng.random() < noise else real  # no draw without noise: the fixture stays
        title = headline(rng, worded_as)
        # Distinct titles, as in a scraped dataset, short enough that padding to 30 tokens never cuts their end.
        while title in seen or len(title.split()) > MAX_WORDS:
            title = headline(rng, worded_as)
        seen.add(title)
        domain = rng.choice(DOMAINS)
        rows.append({
            "title": title,
            "news_url": f"{domain}/{slug(title)}",
            "source_domain": domain,
            "tweet_num": int(rng.expovariate(1 / 40)),
            "real": real,
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder for FakeNewsNet.csv and the tokenizer")
    parser.add_argument("--rows", type=int, default=400, help="number of headlines")
    parser.add_argument("--real-fraction", type=float, default=0.75, help="share of real headlines (Kaggle: 0.75)")
    parser.add_argument("--vocab-size", type=int, default=600, help="tokenizer vocabulary, <PAD> included")
    parser.add_argument("--noise", type=float, default=0.0,
                        help="share of headlines worded as the other class (0: the fixture; 0.15: about as hard as "
                             "the real FakeNewsNet)")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / "FakeNewsNet.csv"
    rows = make_rows(args.rows, args.real_fraction, args.seed, args.noise)
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    model = train_tokenizer(csv_path, args.out / "fakenews_tokenizer", vocab_size=args.vocab_size, seed=args.seed)
    print(f"wrote {csv_path} ({len(rows)} rows) and {model}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
