"""Campaigns (营销活动): broadcasts and journeys, A/B variants with a holdout, reports."""
