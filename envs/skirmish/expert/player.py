"""The expert demonstrator: a player stronger than the strongest fair bot, for behaviour cloning (the analogue of
AlphaStar's human replays). It is not a ladder level.

Privileged planning, fair acting. Every ``replan_every`` steps in a fight the expert forks the running game
(``fork.fork_into``: exact copies in a ``BatchedEngine``), plays each candidate plan (plans.py) in one copy for
``horizon`` agent steps (more as units die) against a copy of the opponent's actual bot (bots are deterministic
given their state), scores the copies (``_score``: a win or loss inside the horizon, else material) and plays the
best plan until the next replanning. It reads the engine state and the opponent's bot, which
no fair player may (so it is documented as privileged: ``needs_state``), but it acts only through the action
contract: its actions are the chosen plan bot's action dicts, at most ``spec.actions_per_step`` per step, checked
by the match like anyone's. The simulation is exact, so the game follows the chosen plan's simulated future until
the next replanning. Against a player that is not a bot the expert models it as a very_hard bot fed with its
observations (no longer exact).

    match, bots = bot_match("MMM", {1: "expert", 2: "very_hard"}, seed=0, variant=0)   # bot_match binds it
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from envs.contract.spec import Spec
from envs.skirmish.actions import translate_lenient
from envs.skirmish.batched import BatchedEngine
from envs.skirmish.bots import LEVEL_CONFIGS, Bot, make_bot
from envs.skirmish.bots.view import parse
from envs.skirmish.expert.fork import fork_into
from envs.skirmish.expert.plans import DEFAULT_PLANS, Plan, PlanBot, clone_bot, group_tags, pick_focus
from envs.skirmish.observation import observe_players

WIN = 4.0  # score of a win inside the horizon (a full material swing is at most 2)


@dataclass(frozen=True)
class ExpertConfig:
    """How the expert plans: ``plans`` compared every ``replan_every`` steps over ``horizon`` agent steps, once
    the armies are within ``contact_margin`` map units (plus what they can walk in the horizon) of weapon range;
    as units die the horizon grows in proportion (the same simulation cost looks further), up to ``max_horizon``;
    ``base`` is the bot level whose play the plans vary."""

    horizon: int = 10
    max_horizon: int = 30
    replan_every: int = 3
    contact_margin: float = 2.0
    base: str = "very_hard"
    plans: tuple[Plan, ...] = DEFAULT_PLANS

    def __post_init__(self) -> None:
        if not 1 <= self.horizon <= self.max_horizon or self.replan_every < 1 or self.contact_margin < 0:
            raise ValueError("ExpertConfig: expected 1 <= horizon <= max_horizon, replan_every >= 1, "
                             "contact_margin >= 0")  # fmt: skip
        if self.base not in LEVEL_CONFIGS or not self.plans:
            raise ValueError(f"ExpertConfig: base must be a bot level (got {self.base!r}) and plans non-empty")


class Expert:
    """The expert player for ``player`` (see the module docstring); ``bind`` it to its match before acting."""

    needs_state = True  # bot_match hands it the match and the opponent's bot (privileged planning)

    def __init__(self, player: int, seed: int = 0, config: ExpertConfig | None = None) -> None:
        if player not in (1, 2):
            raise ValueError(f"Expert: player must be 1 or 2, got {player!r}")
        self.player, self.seed = player, int(seed)
        self.config = config if config is not None else ExpertConfig()
        self.match = None
        self.opponent: Bot | None = None
        self.reset()

    def bind(self, match, opponent: Bot | None) -> None:
        """Plan on ``match`` (its engine as it is at each step) against ``opponent`` (None: a policy)."""
        self.match, self.opponent = match, opponent
        self.reset()

    def reset(self) -> None:
        self.step = 0
        self.policy = PlanBot(LEVEL_CONFIGS[self.config.base], self.player, self.seed)
        self.current = self.config.plans[0]
        self._sim: BatchedEngine | None = None
        self._shadow = None if self.opponent is not None else make_bot(self.config.base, 3 - self.player, self.seed)
        self._before: Bot | None = None  # the opponent's bot before its next act (when it acts first)
        self.replans = 0

    def act(self, obs: dict, spec: Spec) -> list[dict]:
        """This step's action dicts: the current plan's, after replanning when it is due."""
        if self.match is None:
            raise RuntimeError("Expert: bind(match, opponent) before act (bot_match does it)")
        step, self.step = self.step, self.step + 1
        model = self._opponent_model(step)
        if step % self.config.replan_every == 0 and model is not None and self._in_contact():
            actions = self._replan(model, obs, spec)
        else:
            actions = self.policy.act(obs, spec)
        due = (step + 1) % self.config.replan_every == 0
        if due and self.opponent is not None and self.opponent.step == step + 1:  # it moved first: keep it as it is
            self._before = clone_bot(self.opponent)
        return actions

    # ------------------------------------------------------------------ planning

    def _opponent_model(self, step: int) -> Bot | None:
        """The opponent's bot as it is before its act of this step (exact), or None when it cannot be had."""
        if self._shadow is not None:  # a policy: a very_hard bot fed with its observations stands in for it
            model = clone_bot(self._shadow)
            self._shadow.act(self.match.observations[3 - self.player], self.match.spec)
            return model
        if self.opponent.step == step:
            return self.opponent
        if self.opponent.step == step + 1 and self._before is not None and self._before.step == step:
            return self._before
        return None

    def _in_contact(self) -> bool:
        """Whether the armies could exchange fire within the horizon (else every plan plays alike: skip)."""
        st = self.match.engine.state
        table = self.match.engine.units
        t = st.utype
        mine, theirs = st.alive & (st.owner == self.player), st.alive & (st.owner != self.player)
        if not mine.any() or not theirs.any():
            return False
        pos, radius = st.pos, table.radius[t]
        gap = np.hypot(*(pos[mine][:, None, :] - pos[theirs][None, :, :]).transpose(2, 0, 1))
        gap -= radius[mine][:, None] + radius[theirs][None, :]
        walk = table.speed_loop.max() * self.match.step_mul * self.config.horizon
        reach = table.range.max() + walk + self.config.contact_margin
        return bool(gap.min() < reach)

    def _replan(self, model: Bot, obs: dict, spec: Spec) -> list[dict]:
        """Simulate every plan from the current game, adopt the best one and return its first actions."""
        cfg, match, me = self.config, self.match, self.player
        plans, bots = self._candidates(obs)
        k = len(plans)
        engine = match.engine
        n = engine.state.n
        if self._sim is None or self._sim.games < k or self._sim.capacity < n or self._sim.units is not engine.units:
            self._sim = BatchedEngine([engine.scenario] * k, [0] * k, units=engine.units, capacity=n)
        sim = self._sim
        fork_into(sim, np.arange(k), engine)
        root = observe_players(sim.game(0), match.max_units)  # every copy starts from the same observations ...
        opponent = clone_bot(model)
        root_move = opponent.act(root[2 - me].obs, spec)  # ... so the opponent's first move is the same in all
        opponents = [clone_bot(opponent) for _ in plans]
        alive = np.count_nonzero(engine.state.alive)
        horizon = min(cfg.max_horizon, cfg.horizon * n // max(alive, 1))
        for h in range(horizon):
            running = (~sim.done[:k]).nonzero()[0].tolist()
            if not running:
                break
            for g in running:
                view = sim.game(g)
                observed = root if h == 0 else observe_players(view, match.max_units)
                moves = {me: bots[g].act(observed[me - 1].obs, spec),
                         3 - me: root_move if h == 0 else opponents[g].act(observed[2 - me].obs, spec)}  # fmt: skip
                for p in (1, 2):
                    for action in moves[p]:
                        for command in translate_lenient(action, observed[p - 1].row_to_slot, view, p, spec)[0]:
                            view.issue(p, command)
            sim.advance(match.step_mul, running)
        scores = [self._score(sim, g) for g in range(k)]
        best = int(np.argmax(scores))  # ties: the earliest plan (the base first)
        self.policy = self.policy.with_plan(plans[best], cfg.base, bots[best].start_focus)
        self.current = plans[best]
        self.replans += 1
        return self.policy.act(obs, spec)  # the best copy's first move again (deterministic), from its start state

    def _candidates(self, obs: dict) -> tuple[list[Plan], list[PlanBot]]:
        """The plans to compare now, each with its bot (a copy of the expert's play state). A plan that would play
        exactly as an earlier one is left out (a focus plan with no unit or no enemy to focus, or the same units
        and enemy as another; once the army engaged, plans differing only in formation patience)."""
        facts = self.policy.facts
        view = parse(obs, facts)
        plans, bots, seen = [], [], set()
        for plan in self.config.plans:
            tag, group = -1, ()
            if plan.focus:
                tag = pick_focus(plan.focus, view.own, view.enemy, facts)
                group = group_tags(plan.group, view.own, facts)
                if tag < 0 or not group:
                    continue
            bot = self.policy.with_plan(plan, self.config.base, tag)
            config = dataclasses.replace(bot.config, patience=0) if bot.committed else bot.config
            key = (config, bot.committed, group, tag, plan.dodge)
            if key in seen:
                continue
            seen.add(key)
            plans.append(plan)
            bots.append(bot)
        return plans, bots

    def _score(self, sim: BatchedEngine, g: int) -> float:
        """The simulated game g for the expert: a win or loss in the horizon dominates, a draw (neither side can hurt
        the other) is 0; otherwise material, the expert's share of its units' worth (alive counts half, hp + shields
        half, worth = full hp + shields, doubled for a unit that can hit air while the other side has air units: the
        last ones able to hit a medivac decide whether the game can be won) minus the opponent's."""
        winner = int(sim.winner[g])
        if winner >= 0:
            return 0.0 if winner == 0 else WIN if winner == self.player else -WIN
        st = sim.game_state(g)
        table = sim.units
        t = st.utype
        full = table.hp[t] + table.shields[t]
        mine = st.owner == self.player
        air = st.alive & table.is_air[t]
        anti_air = table.armed[t] & table.hits_air[t] & np.where(mine, air[~mine].any(), air[mine].any())
        worth = full * np.where(anti_air, 2.0, 1.0)
        value = np.where(st.alive, 0.5 * worth + 0.5 * worth * (st.hp + st.shield) / full, 0.0)
        return float(value[mine].sum() / worth[mine].sum() - value[~mine].sum() / worth[~mine].sum())
