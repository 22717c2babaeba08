"""Pure, I/O-free core of emspool: domain types, alarm state machine, config, DB schema."""
