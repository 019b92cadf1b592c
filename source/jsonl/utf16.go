package jsonl

import (
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// Windows PowerShell 5.1 writes "ConvertTo-Json > file" as UTF-16LE with a
// byte-order mark, so JSON exports made on Windows are often UTF-16. They
// are converted to UTF-8 as they are read; offsets then count UTF-8 bytes.

// utf16BOM returns whether head starts with a UTF-16 byte-order mark and
// whether it is big-endian.
func utf16BOM(head []byte) (isUTF16, bigEndian bool) {
	if len(head) < 2 {
		return false, false
	}
	switch {
	case head[0] == 0xff && head[1] == 0xfe:
		return true, false
	case head[0] == 0xfe && head[1] == 0xff:
		return true, true
	}
	return false, false
}

// sniffUTF16 is Sniff for input with a UTF-16 byte-order mark.
func sniffUTF16(head []byte, bigEndian bool) bool {
	for i := 2; i+1 < len(head); i += 2 {
		c := rune(head[i]) | rune(head[i+1])<<8
		if bigEndian {
			c = rune(head[i])<<8 | rune(head[i+1])
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[':
			return true
		}
		return false
	}
	return false
}

// bomReader looks at the first two bytes on the first Read and, behind a
// UTF-16 byte-order mark, converts the rest to UTF-8.
type bomReader struct {
	r       io.Reader
	started bool
}

func (b *bomReader) Read(p []byte) (int, error) {
	if !b.started {
		b.started = true
		var head [2]byte
		n, err := io.ReadFull(b.r, head[:])
		switch is, be := utf16BOM(head[:n]); {
		case is:
			b.r = &utf16Reader{r: b.r, bigEndian: be}
		case err == nil:
			b.r = io.MultiReader(&prefixReader{b: head[:n]}, b.r)
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			b.r = &prefixReader{b: head[:n]}
		default:
			b.r = io.MultiReader(&prefixReader{b: head[:n]}, errReader{err})
		}
	}
	return b.r.Read(p)
}

type prefixReader struct{ b []byte }

func (p *prefixReader) Read(dst []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := copy(dst, p.b)
	p.b = p.b[n:]
	return n, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// utf16Reader converts UTF-16 to UTF-8. Unpaired surrogates and a dangling
// odd byte become U+FFFD.
type utf16Reader struct {
	r         io.Reader
	bigEndian bool
	in        [8192]byte
	n         int // bytes pending in in
	out       []byte
	err       error
}

func (u *utf16Reader) unit(i int) rune {
	if u.bigEndian {
		return rune(u.in[i])<<8 | rune(u.in[i+1])
	}
	return rune(u.in[i]) | rune(u.in[i+1])<<8
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	for len(u.out) == 0 {
		if u.err != nil {
			return 0, u.err
		}
		m, err := u.r.Read(u.in[u.n:])
		u.n += m
		if err != nil {
			u.err = err
		} else if m == 0 {
			return 0, nil
		}
		out := u.out[:0]
		i := 0
		for i+1 < u.n {
			c := u.unit(i)
			if c >= 0xd800 && c < 0xdc00 { // high surrogate
				if i+3 >= u.n && u.err == nil {
					break // wait for its pair
				}
				if i+3 < u.n {
					if r := utf16.DecodeRune(c, u.unit(i+2)); r != utf8.RuneError {
						out = utf8.AppendRune(out, r)
						i += 4
						continue
					}
				}
				c = utf8.RuneError
			}
			out = utf8.AppendRune(out, c) // a lone low surrogate becomes U+FFFD
			i += 2
		}
		u.n = copy(u.in[:], u.in[i:u.n])
		if u.err != nil && u.n > 0 {
			out = utf8.AppendRune(out, utf8.RuneError)
			u.n = 0
		}
		u.out = out
	}
	n := copy(p, u.out)
	u.out = u.out[n:]
	return n, nil
}
