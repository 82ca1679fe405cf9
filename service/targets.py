"""What a model should serve: its declared state read against the repository and the version policy.

Every process computes the same :class:`Target` from the same inputs (the
declared state, the version numbers in the repository, the versions that failed
to load), so processes that share a repository converge on the same route
without talking to each other.

* ``serving`` pinned (with or without a split): that route, the history and the
  versions to keep loaded, as declared. Under the ``latest`` version policy a
  version newer than ``latest_seen`` that loads replaces it (the route follows
  the newest; the pinned version becomes the rollback target): admin actions
  stand until the next version appears. Without ``latest_seen`` (a file
  written by hand, say) the pin holds whatever appears.
* ``serving: "latest"``: the newest version that loads.
* A declared version that cannot be loaded leaves the route as it is (or, with
  nothing serving, the newest version that loads serves) and the target is
  ``blocked``: this process has not converged.

>>> from service.declared import MAX_HISTORY, DeclaredState
>>> from service.settings import VersionPolicy
>>> pinned = DeclaredState(generation=3, serving=2, history=[1], latest_seen=3, keep_loaded=[1, 2, 3])
>>> t = resolve(pinned, [1, 2, 3], set(), VersionPolicy.LATEST, None, 2)
>>> t.primary, t.history, sorted(t.hold)
(2, (1,), [1, 2, 3])
>>> t = resolve(pinned, [1, 2, 3, 4], set(), VersionPolicy.LATEST, None, 2)
>>> t.primary, t.history, sorted(t.hold), t.following_latest
(4, (1, 2), [2, 4], True)
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from service.declared import MAX_HISTORY, DeclaredState
from service.settings import VersionPolicy

__all__ = ["Target", "default_state", "resolve"]

Split = tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class Target:
    """The route a model should have and the versions it should hold loaded.

    Attributes:
        primary: the version requests naming none go to (the heaviest of a split); None: nothing loadable.
        split: ``(version, percent)`` pairs when a canary split is declared.
        history: rollback targets, oldest first.
        keep: versions to hold loaded besides the route.
        retain: loaded versions that may stay loaded (recent rollback targets after an automatic switch).
        following_latest: the route follows the newest version.
        generation: the declared state's generation (0: no file).
        blocked: why the declared route cannot be served here, or None.
    """

    primary: int | None
    split: Split = ()
    history: tuple[int, ...] = ()
    keep: frozenset[int] = field(default_factory=frozenset)
    retain: frozenset[int] = field(default_factory=frozenset)
    following_latest: bool = False
    generation: int = 0
    blocked: str | None = None

    @property
    def members(self) -> tuple[int, ...]:
        """Versions taking requests that name no version."""
        if self.split:
            return tuple(v for v, _ in self.split)
        return () if self.primary is None else (self.primary,)

    @property
    def hold(self) -> frozenset[int]:
        """Every version this target keeps loaded (or lets stay loaded)."""
        return frozenset(self.members) | self.keep | self.retain

    def rollback_target(self) -> int | None:
        """The newest history entry that differs from the route (any entry when a split serves)."""
        for v in reversed(self.history):
            if self.split or v != self.primary:
                return v
        return None


def default_state(policy: VersionPolicy, pinned: int | None, versions: Sequence[int]) -> DeclaredState:
    """The state a model has before anything is declared (generation 0, never written).

    ``pinned`` (from ``CTR_MODEL_VERSIONS``) serves until a newer version than
    those seen now appears (``latest`` policy) or for good (``specific``);
    without a pin, ``latest`` follows the newest version and ``specific`` holds
    the newest version seen now.
    """
    newest = max(versions, default=0)
    if pinned is not None:
        return DeclaredState(generation=0, serving=pinned, latest_seen=newest)
    if policy is VersionPolicy.LATEST or not versions:
        return DeclaredState(generation=0, serving="latest", latest_seen=0)
    return DeclaredState(generation=0, serving=newest, latest_seen=newest)


def _retained(history: Sequence[int], primary: int | None, retain_versions: int) -> frozenset[int]:
    kept: list[int] = []
    for v in reversed(history):
        if len(kept) + 1 >= retain_versions:
            break
        if v != primary and v not in kept:
            kept.append(v)
    return frozenset(kept)


def resolve(
    state: DeclaredState,
    versions: Sequence[int],
    failed: Collection[int],
    policy: VersionPolicy,
    current: tuple[int | None, Split] | None,
    retain_versions: int,
) -> Target:
    """The target of one model.

    Args:
        state: the declared state (or :func:`default_state`).
        versions: version numbers present in the repository (or still loaded).
        failed: versions that failed to load and whose files have not changed since.
        policy: the service's version policy.
        current: this process's route now, ``(primary, split)``, or None.
        retain_versions: versions kept loaded after an automatic switch (serving one included).
    """
    usable = sorted(v for v in versions if v not in failed)
    newer = [] if state.latest_seen is None else [v for v in usable if v > state.latest_seen]
    pinned = state.serving != "latest"
    if not pinned or (policy is VersionPolicy.LATEST and newer):
        if newer:
            before = [] if (state.split or not pinned) else [state.serving]
            if not pinned and state.latest_seen:
                seen = [v for v in usable if v <= state.latest_seen]
                before = seen[-1:]
            history = (*state.history, *before, *newer[:-1])[-MAX_HISTORY:]
            primary = newer[-1]
            # an automatic switch: what the state held is retired, recent rollback targets may stay loaded
            return Target(primary, (), history, frozenset(), _retained(history, primary, retain_versions), True,
                          state.generation)
        return Target(usable[-1] if usable else None, (), tuple(state.history), frozenset(state.keep_loaded),
                      frozenset(), True, state.generation)

    split: Split = tuple(sorted(state.split.items())) if state.split else ()
    members = [v for v, _ in split] or [state.serving]
    missing = [v for v in members if v not in versions]
    broken = [v for v in members if v in failed]
    if missing or broken:
        reason = (f"declared version {(missing or broken)[0]} "
                  f"{'is not in the repository' if missing else 'failed to load here'}")
        if current is not None and current[0] is not None:
            primary, split = current
        else:
            primary, split = (usable[-1] if usable else None), ()
        return Target(primary, split, tuple(state.history), frozenset(state.keep_loaded), frozenset(), False,
                      state.generation, reason)
    return Target(state.serving, split, tuple(state.history), frozenset(state.keep_loaded), frozenset(), False,
                  state.generation)
