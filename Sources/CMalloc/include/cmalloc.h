#ifndef DIRLEDGER_CMALLOC_H
#define DIRLEDGER_CMALLOC_H

// glibc's allocator tuning (mallopt), which Swift's Glibc module leaves out.
#include <malloc.h>

#endif
