"""Analysis: leverage and risk read off the planner's counterfactuals."""
