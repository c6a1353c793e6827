"""Training code of the churn model: the features (`features`) and the entry point (`train`)."""
