package auth

import (
	"crypto/pbkdf2"

	"github.com/xdg-go/scram"
)

func pbkdf2Key(h scram.HashGeneratorFcn, pw string, salt []byte, iter int) ([]byte, error) {
	return pbkdf2.Key(h, pw, salt, iter, h().Size())
}
