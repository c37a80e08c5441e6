"""Full games in Skirmish: economy, production, tech and bases on top of the combat engine (FULL_GAMES.md)."""
