"""Pure provider protocol code: no ORM, no Django models, no settings. One package per provider,
each implementing the Connector protocol of converge.providers.types; which connector speaks
which kind of channel is written out in converge.providers.registry."""
