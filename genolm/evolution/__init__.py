"""Virus evolution: which mutations a sequence tolerates, and what next season's virus will be.

``scoring`` (``genolm score``: every substitution's log-likelihood ratio or masked marginal),
``forecast`` (``genolm evolve``: a model trained only on earlier seasons picks a strain and ranks
mutations) and ``baselines`` (dated sequences, consensus, frequency, LBI, and the forecast
metrics)."""
