"""The portal: server-rendered pages for an MSP's staff and its clients, over the services' HTTP APIs."""
