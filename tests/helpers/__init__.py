"""Test helpers shared by integration and system tests (real sockets, real servers)."""
