/*
 * A stand-in bcryptprimitives.dll for running the Windows build under Wine 8
 * (Debian 12) in the test suite only; it is never shipped in the MSI.
 *
 * Why: Rust's standard library (1.78 and later) gets its random numbers from
 * ProcessPrng in bcryptprimitives.dll, which every supported Windows has
 * (Windows 10 / Server 2016 and later) but which Wine only gained in 9.0. Under
 * Wine 8 the .exe does not even load ("Library bcryptprimitives.dll ... not
 * found"). This DLL exports ProcessPrng on top of RtlGenRandom
 * (advapi32!SystemFunction036), which Wine has. tests/windows.rs puts it next
 * to the .exe (the loader looks in the application's directory first).
 *
 * Build: x86_64-w64-mingw32-gcc -O2 -shared -o bcryptprimitives.dll \
 *        bcryptprimitives.c bcryptprimitives.def -ladvapi32
 * (tests/windows.rs does this with the mingw-w64 compiler it cross-builds with.)
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
