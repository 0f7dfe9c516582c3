"""The bottom of the house: helpers every package uses (atomic publishing and checksums,
settings validation, console and progress). It imports none of songspace's other packages."""
