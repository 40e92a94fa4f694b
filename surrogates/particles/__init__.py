"""Learned particle simulators (graph networks on MPM particle clouds)."""
