package chimerax

// ProcessStartTicks exposes processStartTicks to the tests.
var ProcessStartTicks = processStartTicks
