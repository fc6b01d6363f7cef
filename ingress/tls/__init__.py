"""TLS termination: per-certificate SSLContexts picked by SNI (`contexts`), and the default
certificate (`default_certificate`). Nothing is imported here: a worker process that
terminates no TLS, or a module that needs one helper (`pem_memory`), does not load
`cryptography`."""
