package event

// Hand-written matchers for the identifier syntaxes of the wire contract.
// They replace regular expressions on the hub's hot path (every message
// carries several identifiers; regexp matching was ~3 µs of a message's
// ~20 µs of decoding). TestMatchersAgreeWithRegexps and FuzzMatchers hold
// each one to the regular expression in its comment.

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlnum(c byte) bool { return isDigit(c) || isUpper(c) || isLower(c) }
func isHex(c byte) bool   { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// matches reports whether s is one byte accepted by first followed by
// between minRest and maxRest bytes accepted by rest.
func matches(s string, first, rest func(byte) bool, minRest, maxRest int) bool {
	if len(s) < 1+minRest || len(s) > 1+maxRest || !first(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !rest(s[i]) {
			return false
		}
	}
	return true
}

// isDeviceID: ^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$
func isDeviceID(s string) bool {
	return matches(s, isAlnum, func(c byte) bool { return isAlnum(c) || c == '_' || c == '.' || c == '-' }, 0, 49)
}

// isUUID: ^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}

// isULID: ^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$ (Crockford base32: no I, L, O, U)
func isULID(s string) bool {
	return matches(s, func(c byte) bool { return c >= '0' && c <= '7' }, func(c byte) bool {
		if isLower(c) {
			c -= 'a' - 'A'
		}
		return isDigit(c) || isUpper(c) && c != 'I' && c != 'L' && c != 'O' && c != 'U'
	}, 25, 25)
}

// isPlate: ^[A-Z0-9][A-Z0-9-]{1,14}$
func isPlate(s string) bool {
	return matches(s, func(c byte) bool { return isUpper(c) || isDigit(c) },
		func(c byte) bool { return isUpper(c) || isDigit(c) || c == '-' }, 1, 14)
}

// isSHA256Hex: ^[0-9a-f]{64}$
func isSHA256Hex(s string) bool {
	lowerHex := func(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' }
	return matches(s, lowerHex, lowerHex, 63, 63)
}

// isKeySyntax: ^[A-Za-z0-9_][A-Za-z0-9_./-]{0,511}$
func isKeySyntax(s string) bool {
	return matches(s, func(c byte) bool { return isAlnum(c) || c == '_' },
		func(c byte) bool { return isAlnum(c) || c == '_' || c == '.' || c == '/' || c == '-' }, 0, 511)
}
