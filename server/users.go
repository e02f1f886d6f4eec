package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/chimerad/chimerad/store"
)

// addUserBody is the body of POST /api/users.
type addUserBody struct {
	Name  string `json:"name"`
	Admin bool   `json:"admin"`
}

// userToken is a user with a freshly issued token: the only time a token
// is ever shown.
type userToken struct {
	User  store.User `json:"user"`
	Token string     `json:"token"`
}

func (s *Server) listUsers(c *gin.Context) error {
	users, err := s.users.Users(c)
	if err != nil {
		return err
	}
	if users == nil {
		users = []store.User{}
	}
	c.JSON(http.StatusOK, gin.H{"users": users})
	return nil
}

func (s *Server) addUser(c *gin.Context) error {
	var body addUserBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	u, token, err := s.users.CreateUser(c, body.Name, body.Admin)
	if err != nil {
		return err
	}
	s.logger.Info().Str("user", u.Name).Bool("admin", u.Admin).Str("by", caller(c).Name).Msg("user added")
	c.Header("Location", "/api/users/"+u.Name)
	c.JSON(http.StatusCreated, userToken{User: u, Token: token})
	return nil
}

func (s *Server) removeUser(c *gin.Context) error {
	name := c.Param("name")
	if err := s.RemoveUser(c, name); err != nil {
		return err
	}
	s.logger.Info().Str("user", name).Str("by", caller(c).Name).Msg("user removed")
	c.Status(http.StatusNoContent)
	return nil
}

// RemoveUser revokes a user's tokens, removes the user and ends every live
// session of theirs with reason user_removed.
func (s *Server) RemoveUser(ctx context.Context, name string) error {
	if err := s.users.DeleteUser(ctx, name); err != nil {
		return err
	}
	live, _, err := s.sv.Sessions(ctx, store.SessionFilter{Owner: name, Live: true})
	if err != nil {
		return err
	}
	var errs []error
	for _, rec := range live {
		if _, err := s.sv.Stop(context.WithoutCancel(ctx), rec.ID, store.ReasonUserRemoved); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Server) rotateToken(c *gin.Context) error {
	name := c.Param("name")
	token, err := s.users.RotateToken(c, name)
	if err != nil {
		return err
	}
	s.logger.Info().Str("user", name).Str("by", caller(c).Name).Msg("token rotated")
	c.JSON(http.StatusOK, gin.H{"user": name, "token": token})
	return nil
}
