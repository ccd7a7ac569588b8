package netlab

// NeighNeed exports neighNeed to the external tests.
var NeighNeed = neighNeed
