"""Unit conversions at the interface (energies in eV and lengths in Å internally)."""

EV_PER_A3_IN_GPA = 160.21766208
"""1 eV/Å³ in GPa."""

EV_PER_A2_IN_J_PER_M2 = 16.021766208
"""1 eV/Å² in J/m²."""
