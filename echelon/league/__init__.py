"""Self-play league: Glicko-2 ratings, the league file, promotion, retirement, opponent sampling."""
