"""kqbench's Hydra sweeper and launcher (Hydra finds plugins in the ``hydra_plugins`` namespace only)."""
