"""billing-link, the operator CLI: it talks to the services' HTTP APIs and to Kafka, with the same tokens."""
