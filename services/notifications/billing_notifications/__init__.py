"""The notifications service: emails and PSA tickets per notification type, exactly once."""
