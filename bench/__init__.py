"""llmcfg's benchmarks: `python -m bench` (or `make bench`) runs them and rewrites docs/benchmarks.md.

Modules: upstream (the bench upstream on loopback), seed (its database), served (the production
serve command as a child process), client and load (the clients), one module per figure
(failover, relay_cost, streams, catalog, queries), peers (LiteLLM and the openai SDK), report.
"""
