module github.com/gsskit/gsskit

go 1.26

require github.com/jcmturner/gokrb5/v8 v8.4.4 // indirect
