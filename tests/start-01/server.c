/*
 * server.c - your step 01: a blocking echo server, built a stage at a time.
 *
 * `make start-01` put this file in workspace/01/, and it is yours now: add files beside
 * it as you like (step 01 has net.h and net.c too). `make` builds every .c file of the
 * folder into build/workspace-01, with the warnings the steps are built with;
 * `make check-01 STAGE=1` builds it and runs stage 1's tests against it.
 *
 * The stages, and what each one asks of this program, are in docs/01-echo.md, section
 * "Build it yourself". As it stands, this program compiles and does nothing, so stage
 * 1's tests fail: their messages say what they expected.
 */
#define _POSIX_C_SOURCE 200809L

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 0;
}
