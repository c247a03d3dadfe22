-- Each channel is claimed in its own lane (due emails never wait behind due tickets): the due
-- rows of one channel, oldest first.
CREATE INDEX deliveries_due_by_channel ON deliveries (channel, next_attempt_at) WHERE status = 'pending';
