# Turns a text file into C: `cmake -DIN=file -DOUT=file.c -DFUNC=name -P embed.cmake`
# writes `const char *FUNC(size_t *len)` returning the file's bytes, NUL-terminated.
file(READ ${IN} _hex HEX)
string(LENGTH "${_hex}" _n)
math(EXPR _len "${_n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _bytes "${_hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" _bytes "${_bytes}")
get_filename_component(_name ${IN} NAME)
file(WRITE ${OUT} "/* Generated from ${_name} by cmake/embed.cmake: do not edit. */
#include <stddef.h>

static const char data[] = {
${_bytes}0x00};

const char *${FUNC}(size_t *len);
const char *${FUNC}(size_t *len)
{
    if (len)
        *len = ${_len};
    return data;
}
")
