#include "harness.c"
