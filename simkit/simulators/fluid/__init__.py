"""Eulerian incompressible fluids on a MAC grid (Taichi), with an MGPCG pressure solve."""
