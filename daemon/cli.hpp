// Command line of minyid: run, --check-config, --describe-plugin, --version.
#pragma once

namespace minyi {
int run_minyid(int argc, char** argv);
}
