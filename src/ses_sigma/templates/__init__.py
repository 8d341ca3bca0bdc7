"""Files ``ses-sigma init`` writes into a new team detection repository."""
