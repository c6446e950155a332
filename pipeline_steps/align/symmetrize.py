"""Symmetrization of two directional word alignments (Och & Ney 2003; Koehn et al. 2003).

Both inputs are sets of 0-based ``(s, t)`` links in source-target orientation: ``forward`` from the
source->target model (each target word has at most one link), ``reverse`` from the target->source
model, already flipped to ``(s, t)``. The heuristics follow fast_align's ``atools -c <name>``
exactly (same candidate order, same neighbourhoods), so the output is identical to
``atools -i forward -j reverse -c grow-diag-final-and``:

- ``grow-diag``: start from the intersection; repeatedly add a union link whose source or target
  word is still unaligned and which has an aligned neighbour (8-neighbourhood), scanning the
  candidate links in ``(s, t)`` order and updating as it goes, until nothing changes.
- ``grow-diag-final``: then add forward links, then reverse links, whose source *or* target word is
  unaligned.
- ``grow-diag-final-and``: the same but the final steps need *both* words unaligned.

intersection, union and grow-diag are symmetric in their two arguments; the "final" steps scan the
forward links first, so grow-diag-final(-and) is not (as in atools and Moses' symal).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

Link = tuple[int, int]

_NEIGHBOURS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, 1), (1, -1), (-1, -1))


def intersection(forward: Iterable[Link], reverse: Iterable[Link]) -> set[Link]:
    """Links found in both directions (high precision)."""
    return set(forward) & set(reverse)


def union(forward: Iterable[Link], reverse: Iterable[Link]) -> set[Link]:
    """Links found in either direction (high recall)."""
    return set(forward) | set(reverse)


class _Refiner:
    """State of one grow-diag(-final(-and)) run, as in atools' RefineCommand."""

    def __init__(self, forward: set[Link], reverse: set[Link]):
        self.union = forward | reverse
        self.res: set[Link] = set()
        self.src_aligned: set[int] = set()
        self.tgt_aligned: set[int] = set()
        for link in sorted(forward & reverse):
            self.add(link)

    def add(self, link: Link) -> None:
        self.res.add(link)
        self.src_aligned.add(link[0])
        self.tgt_aligned.add(link[1])

    def one_or_both_unaligned(self, link: Link) -> bool:
        return not (link[0] in self.src_aligned and link[1] in self.tgt_aligned)

    def neither_aligned(self, link: Link) -> bool:
        return link[0] not in self.src_aligned and link[1] not in self.tgt_aligned

    def neighbour_aligned(self, link: Link) -> bool:
        s, t = link
        return any((s + ds, t + dt) in self.res for ds, dt in _NEIGHBOURS)

    def grow_diag(self) -> None:
        pending = sorted(self.union - self.res)
        changed = bool(pending)
        while changed:
            changed = False
            added = []
            for link in pending:
                if self.one_or_both_unaligned(link) and self.neighbour_aligned(link):
                    self.add(link)
                    added.append(link)
                    changed = True
            if added:
                done = set(added)
                pending = [p for p in pending if p not in done]

    def final(self, links: set[Link], pred: Callable[[Link], bool]) -> None:
        for link in sorted(links):
            if link not in self.res and pred(link):
                self.add(link)


def grow_diag(forward: Iterable[Link], reverse: Iterable[Link]) -> set[Link]:
    """Intersection grown into the union through diagonal and adjacent neighbours."""
    r = _Refiner(set(forward), set(reverse))
    r.grow_diag()
    return r.res


def grow_diag_final(forward: Iterable[Link], reverse: Iterable[Link]) -> set[Link]:
    """grow-diag, then directional links with at least one unaligned word."""
    fwd, rev = set(forward), set(reverse)
    r = _Refiner(fwd, rev)
    r.grow_diag()
    r.final(fwd, r.one_or_both_unaligned)
    r.final(rev, r.one_or_both_unaligned)
    return r.res


def grow_diag_final_and(forward: Iterable[Link], reverse: Iterable[Link]) -> set[Link]:
    """grow-diag, then directional links whose two words are both unaligned (Koehn et al. 2003)."""
    fwd, rev = set(forward), set(reverse)
    r = _Refiner(fwd, rev)
    r.grow_diag()
    r.final(fwd, r.neither_aligned)
    r.final(rev, r.neither_aligned)
    return r.res


METHODS: dict[str, Callable[[Iterable[Link], Iterable[Link]], set[Link]]] = {
    "intersection": intersection,
    "union": union,
    "grow-diag": grow_diag,
    "grow-diag-final": grow_diag_final,
    "grow-diag-final-and": grow_diag_final_and,
}


def symmetrize(forward: Iterable[Link], reverse: Iterable[Link], method: str) -> set[Link]:
    """Combine two directional alignments with ``method`` (a key of ``METHODS``)."""
    try:
        func = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown symmetrization {method!r}; expected one of {sorted(METHODS)}") from None
    return func(forward, reverse)
