// minyid entry point: everything lives in the daemon library.
#include "cli.hpp"

int main(int argc, char** argv) { return minyi::run_minyid(argc, argv); }
