//! The parser of Go's `text/template/parse/parse.go` and its node types: builds the tree of a
//! template and its `{{define}}`d templates, rejecting at parse time what Go rejects (unknown
//! functions, undefined variables, unbalanced `{{end}}`, `{{break}}` outside `{{range}}`), with
//! Go's messages. Node `Display` follows Go's `String` methods, which execution errors quote.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::gofmt;
use crate::lex::{lex, Item, ItemType};

#[derive(Clone, Debug)]
pub(crate) enum Node {
    Text(String),
    Action(Action),
    If(Branch),
    Range(Branch),
    With(Branch),
    Template(TemplateCall),
    Break(usize),
    Continue(usize),
}

#[derive(Clone, Debug)]
pub(crate) struct Action {
    pub pos: usize,
    pub pipe: Pipe,
}

#[derive(Clone, Debug)]
pub(crate) struct Branch {
    pub pos: usize,
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Clone, Debug)]
pub(crate) struct TemplateCall {
    pub pos: usize,
    pub name: String,
    pub pipe: Option<Pipe>,
}

#[derive(Clone, Debug)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

#[derive(Clone, Debug)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// A number literal as Go's `NumberNode` classifies it: the interpretations it allows.
#[derive(Clone, Debug)]
pub(crate) struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub uint: Option<u64>,
    pub float: Option<f64>,
    /// Whether Go's `idealConstant` treats it as a float64 (not an int) in an `any` context.
    pub is_float_literal: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Identifier(usize, String),
    /// `$x.Field...`: the variable name first.
    Variable(usize, Vec<String>),
    Dot(usize),
    Nil(usize),
    /// `.Field.Field...`.
    Field(usize, Vec<String>),
    Chain(usize, Box<Arg>, Vec<String>),
    Bool(usize, bool),
    Number(usize, Number),
    /// The quoted form as written, and the unquoted text.
    String(usize, String, String),
    Pipe(Pipe),
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Identifier(p, _)
            | Arg::Variable(p, _)
            | Arg::Dot(p)
            | Arg::Nil(p)
            | Arg::Field(p, _)
            | Arg::Chain(p, _, _)
            | Arg::Bool(p, _)
            | Arg::Number(p, _)
            | Arg::String(p, _, _) => *p,
            Arg::Pipe(pipe) => pipe.pos,
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Identifier(_, name) => f.write_str(name),
            Arg::Variable(_, idents) => f.write_str(&idents.join(".")),
            Arg::Dot(_) => f.write_str("."),
            Arg::Nil(_) => f.write_str("nil"),
            Arg::Field(_, idents) => {
                for ident in idents {
                    write!(f, ".{ident}")?;
                }
                Ok(())
            }
            Arg::Chain(_, node, fields) => {
                if let Arg::Pipe(_) = **node {
                    write!(f, "({node})")?;
                } else {
                    write!(f, "{node}")?;
                }
                for field in fields {
                    write!(f, ".{field}")?;
                }
                Ok(())
            }
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Number(_, n) => f.write_str(&n.text),
            Arg::String(_, quoted, _) => f.write_str(quoted),
            Arg::Pipe(pipe) => write!(f, "{pipe}"),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if let Arg::Pipe(pipe) = arg {
                write!(f, "({pipe})")?;
            } else {
                write!(f, "{arg}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, cmd) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{cmd}")?;
        }
        Ok(())
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, list: &[Node]) -> fmt::Result {
    for node in list {
        write!(f, "{node}")?;
    }
    Ok(())
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Text(text) => f.write_str(&gofmt::quote(text)),
            Node::Action(a) => write!(f, "{{{{{}}}}}", a.pipe),
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                let name = match self {
                    Node::If(_) => "if",
                    Node::Range(_) => "range",
                    _ => "with",
                };
                write!(f, "{{{{{name} {}}}}}", b.pipe)?;
                write_list(f, &b.list)?;
                if let Some(else_list) = &b.else_list {
                    f.write_str("{{else}}")?;
                    write_list(f, else_list)?;
                }
                f.write_str("{{end}}")
            }
            Node::Template(t) => match &t.pipe {
                Some(pipe) => write!(f, "{{{{template {} {pipe}}}}}", gofmt::quote(&t.name)),
                None => write!(f, "{{{{template {}}}}}", gofmt::quote(&t.name)),
            },
            Node::Break(_) => f.write_str("{{break}}"),
            Node::Continue(_) => f.write_str("{{continue}}"),
        }
    }
}

impl Node {
    pub fn pos(&self) -> usize {
        match self {
            Node::Text(_) => 0,
            Node::Action(a) => a.pos,
            Node::If(b) | Node::Range(b) | Node::With(b) => b.pos,
            Node::Template(t) => t.pos,
            Node::Break(p) | Node::Continue(p) => *p,
        }
    }
}

/// The parsed template: its main tree and the trees it `{{define}}`s, by name.
#[derive(Clone, Debug)]
pub(crate) struct Trees {
    pub trees: HashMap<String, Vec<Node>>,
}

const MAX_DEPTH: usize = 100;

/// A parse error, already in Go's `template: NAME:LINE: message` form.
#[derive(Debug)]
pub(crate) struct ParseError(pub String);

/// What ends an item list: `{{end}}` or `{{else}}` (with its position).
enum ListEnd {
    End,
    Else,
}

/// Parses `text` as template `name`; `funcs` are the function names the template may call.
pub(crate) fn parse(name: &str, text: &str, funcs: &HashSet<&str>) -> Result<Trees, ParseError> {
    let mut parser = Parser {
        name,
        items: lex(text),
        next: 0,
        last_line: 1,
        high_water: 0,
        funcs,
        vars: vec!["$".to_string()],
        range_depth: 0,
        depth: 0,
        action_line: 0,
        trees: HashMap::new(),
        non_empty: HashSet::new(),
    };
    let root = parser.parse_root()?;
    let mut trees = parser.trees;
    let empty = is_empty_tree(&root);
    if !empty || !trees.contains_key(name) {
        trees.insert(name.to_string(), root);
    }
    Ok(Trees { trees })
}

fn is_empty_tree(list: &[Node]) -> bool {
    list.iter().all(|n| match n {
        Node::Text(t) => t.trim().is_empty(),
        _ => false,
    })
}

struct Parser<'a> {
    name: &'a str,
    items: Vec<Item>,
    next: usize,
    /// The line of the furthest item read: Go reports parse errors there.
    last_line: usize,
    high_water: usize,
    funcs: &'a HashSet<&'a str>,
    vars: Vec<String>,
    range_depth: usize,
    /// Nesting of blocks and parentheses, bounded so deep templates fail instead of
    /// exhausting the stack (Go bounds parentheses at 10000, with growable stacks).
    depth: usize,
    action_line: usize,
    trees: HashMap<String, Vec<Node>>,
    non_empty: HashSet<String>,
}

type PResult<T> = Result<T, ParseError>;

impl Parser<'_> {
    fn errorf(&self, message: impl fmt::Display) -> ParseError {
        ParseError(format!(
            "template: {}:{}: {message}",
            self.name, self.last_line
        ))
    }

    fn next(&mut self) -> Item {
        let item = self.peek();
        if self.next < self.items.len() {
            self.next += 1;
        }
        item
    }

    fn backup(&mut self) {
        self.next = self.next.saturating_sub(1);
    }

    /// The item at the cursor; like Go's parser, errors report the line of the latest item
    /// looked at, peeked or not.
    fn peek(&mut self) -> Item {
        let index = self.next.min(self.items.len().saturating_sub(1));
        let item = self.items.get(index).cloned().unwrap_or(Item {
            typ: ItemType::Eof,
            pos: 0,
            val: String::new(),
            line: 1,
        });
        if index >= self.high_water {
            self.high_water = index;
            self.last_line = item.line;
        }
        item
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let item = self.next();
            if item.typ != ItemType::Space {
                return item;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let item = self.next_non_space();
        self.backup();
        item
    }

    fn expect(&mut self, expected: ItemType, context: &str) -> PResult<Item> {
        let item = self.next_non_space();
        if item.typ != expected {
            return Err(self.unexpected(&item, context));
        }
        Ok(item)
    }

    fn unexpected(&self, item: &Item, context: &str) -> ParseError {
        if item.typ == ItemType::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != item.line {
                extra = format!(" in action started at {}:{}", self.name, self.action_line);
                if item.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.errorf(format!("{item}{extra}"));
        }
        self.errorf(format!("unexpected {item} in {context}"))
    }

    fn parse_root(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().typ != ItemType::Eof {
            if self.peek().typ == ItemType::LeftDelim {
                let saved = self.next;
                self.next();
                if self.next_non_space().typ == ItemType::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.next = saved;
            }
            match self.text_or_action()? {
                Ok(node) => root.push(node),
                Err(ListEnd::End) => return Err(self.errorf("unexpected {{end}}")),
                Err(ListEnd::Else) => return Err(self.errorf("unexpected {{else}}")),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let token = self.next_non_space();
        if token.typ != ItemType::String && token.typ != ItemType::RawString {
            return Err(self.unexpected(&token, CONTEXT));
        }
        let name = unquote(&token.val).map_err(|e| self.errorf(e))?;
        self.expect(ItemType::RightDelim, CONTEXT)?;
        // A definition has its own variable scope.
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        if let ListEnd::Else = end {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {CONTEXT}")));
        }
        self.add_tree(name, list)
    }

    fn add_tree(&mut self, name: String, list: Vec<Node>) -> PResult<()> {
        let empty = is_empty_tree(&list);
        if self.non_empty.contains(&name) {
            if !empty {
                return Err(self.errorf(format!(
                    "template: multiple definition of template {}",
                    gofmt::quote(&name)
                )));
            }
            return Ok(());
        }
        if !empty {
            self.non_empty.insert(name.clone());
        }
        self.trees.insert(name, list);
        Ok(())
    }

    /// Items up to `{{end}}` or `{{else}}`; EOF first is an error.
    fn item_list(&mut self) -> PResult<(Vec<Node>, ListEnd)> {
        let mut list = Vec::new();
        while self.peek_non_space().typ != ItemType::Eof {
            match self.text_or_action()? {
                Ok(node) => list.push(node),
                Err(end) => return Ok((list, end)),
            }
        }
        Err(self.errorf("unexpected EOF"))
    }

    fn text_or_action(&mut self) -> PResult<Result<Node, ListEnd>> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Text => Ok(Ok(Node::Text(token.val))),
            ItemType::LeftDelim => {
                self.action_line = token.line;
                let result = self.action();
                self.action_line = 0;
                result
            }
            _ => Err(self.unexpected(&token, "input")),
        }
    }

    fn action(&mut self) -> PResult<Result<Node, ListEnd>> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Block => return self.block_control().map(Ok),
            ItemType::Break => return self.break_control(token.pos, "break").map(Ok),
            ItemType::Continue => return self.break_control(token.pos, "continue").map(Ok),
            ItemType::Else => return self.else_control().map(Err),
            ItemType::End => {
                self.expect(ItemType::RightDelim, "end")?;
                return Ok(Err(ListEnd::End));
            }
            ItemType::If => return self.control("if").map(|b| Ok(Node::If(b))),
            ItemType::Range => return self.control("range").map(|b| Ok(Node::Range(b))),
            ItemType::Template => return self.template_control().map(Ok),
            ItemType::With => return self.control("with").map(|b| Ok(Node::With(b))),
            _ => {}
        }
        self.backup();
        let pos = self.peek().pos;
        let pipe = self.pipeline("command", ItemType::RightDelim)?;
        Ok(Ok(Node::Action(Action { pos, pipe })))
    }

    fn break_control(&mut self, pos: usize, word: &str) -> PResult<Node> {
        let token = self.next_non_space();
        if token.typ != ItemType::RightDelim {
            return Err(self.unexpected(&token, &format!("{{{{{word}}}}}")));
        }
        if self.range_depth == 0 {
            return Err(self.errorf(format!("{{{{{word}}}}} outside {{{{range}}}}")));
        }
        Ok(if word == "break" {
            Node::Break(pos)
        } else {
            Node::Continue(pos)
        })
    }

    fn else_control(&mut self) -> PResult<ListEnd> {
        let peek = self.peek_non_space();
        // `{{else if ...}}` and `{{else with ...}}` are `{{else}}{{if ...}}...{{end}}`.
        if peek.typ == ItemType::If || peek.typ == ItemType::With {
            return Ok(ListEnd::Else);
        }
        self.expect(ItemType::RightDelim, "else")?;
        Ok(ListEnd::Else)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.errorf("max expression depth exceeded"));
        }
        Ok(())
    }

    fn control(&mut self, context: &str) -> PResult<Branch> {
        self.enter()?;
        let mark = self.vars.len();
        let result = self.control_inner(context);
        self.vars.truncate(mark);
        self.depth -= 1;
        result
    }

    fn control_inner(&mut self, context: &str) -> PResult<Branch> {
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let listed = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, end) = listed?;
        let mut else_list = None;
        if let ListEnd::Else = end {
            let peek = self.peek();
            if context == "if" && peek.typ == ItemType::If {
                self.next();
                else_list = Some(vec![Node::If(self.control("if")?)]);
            } else if context == "with" && peek.typ == ItemType::With {
                self.next();
                else_list = Some(vec![Node::With(self.control("with")?)]);
            } else {
                let (list, end) = self.item_list()?;
                if let ListEnd::Else = end {
                    return Err(self.errorf("expected end; found {{else}}"));
                }
                else_list = Some(list);
            }
        }
        Ok(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn template_name(&self, token: &Item, context: &str) -> PResult<String> {
        match token.typ {
            ItemType::String | ItemType::RawString => {
                unquote(&token.val).map_err(|e| self.errorf(e))
            }
            _ => Err(self.unexpected(token, context)),
        }
    }

    fn template_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = if self.next_non_space().typ != ItemType::RightDelim {
            self.backup();
            Some(self.pipeline(CONTEXT, ItemType::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template(TemplateCall {
            pos: token.pos,
            name,
            pipe,
        }))
    }

    fn block_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, ItemType::RightDelim)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let saved_depth = std::mem::replace(&mut self.range_depth, 0);
        let listed = self.item_list();
        self.vars = saved_vars;
        self.range_depth = saved_depth;
        let (list, end) = listed?;
        if let ListEnd::Else = end {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {CONTEXT}")));
        }
        self.add_tree(name.clone(), list)?;
        Ok(Node::Template(TemplateCall {
            pos: token.pos,
            name,
            pipe: Some(pipe),
        }))
    }

    fn pipeline(&mut self, context: &str, end: ItemType) -> PResult<Pipe> {
        let token = self.peek_non_space();
        let mut pipe = Pipe {
            pos: token.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        // Declarations or assignments: `$x :=`, `$x =`, `$i, $v := range`.
        loop {
            let v = self.peek_non_space();
            if v.typ != ItemType::Variable {
                break;
            }
            let before = self.next;
            self.next_non_space();
            let next = self.peek_non_space();
            if next.typ == ItemType::Assign || next.typ == ItemType::Declare {
                pipe.is_assign = next.typ == ItemType::Assign;
                self.next_non_space();
                pipe.decl.push(v.val.clone());
                self.vars.push(v.val);
                break;
            } else if next.typ == ItemType::Char && next.val == "," {
                self.next_non_space();
                pipe.decl.push(v.val.clone());
                self.vars.push(v.val);
                if context == "range" && pipe.decl.len() < 2 {
                    match self.peek_non_space().typ {
                        ItemType::Variable | ItemType::RightDelim | ItemType::RightParen => {
                            continue
                        }
                        _ => return Err(self.errorf("range can only initialize variables")),
                    }
                }
                return Err(self.errorf(format!("too many declarations in {context}")));
            } else {
                self.next = before;
                break;
            }
        }
        loop {
            let token = self.next_non_space();
            if token.typ == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match token.typ {
                ItemType::Bool
                | ItemType::CharConstant
                | ItemType::Dot
                | ItemType::Field
                | ItemType::Identifier
                | ItemType::Number
                | ItemType::Nil
                | ItemType::RawString
                | ItemType::String
                | ItemType::Variable
                | ItemType::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&token, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(self.errorf(format!("missing value for {context}")));
        }
        for (i, cmd) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                cmd.args.first(),
                Some(Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Number(..) | Arg::String(..))
            ) {
                return Err(self.errorf(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                )));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command {
            pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(operand) = self.operand()? {
                cmd.args.push(operand);
            }
            let token = self.next();
            match token.typ {
                ItemType::Space => continue,
                ItemType::RightDelim | ItemType::RightParen => self.backup(),
                ItemType::Pipe => {}
                _ => return Err(self.unexpected(&token, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.errorf("empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ != ItemType::Field {
            return Ok(Some(node));
        }
        let chain_pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().typ == ItemType::Field {
            let item = self.next();
            fields.push(item.val[1..].to_string());
        }
        // Go folds trailing fields into a field or variable node (taking the chain's
        // position) and rejects them after literals.
        Ok(Some(match node {
            Arg::Field(_, mut idents) => {
                idents.extend(fields);
                Arg::Field(chain_pos, idents)
            }
            Arg::Variable(_, mut idents) => {
                idents.extend(fields);
                Arg::Variable(chain_pos, idents)
            }
            Arg::Bool(..) | Arg::String(..) | Arg::Number(..) | Arg::Nil(_) | Arg::Dot(_) => {
                return Err(self.errorf(format!(
                    "unexpected . after term {}",
                    gofmt::quote(&node.to_string())
                )));
            }
            other => Arg::Chain(chain_pos, Box::new(other), fields),
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let token = self.next_non_space();
        Ok(Some(match token.typ {
            ItemType::Identifier => {
                if !self.funcs.contains(token.val.as_str()) {
                    return Err(
                        self.errorf(format!("function {} not defined", gofmt::quote(&token.val)))
                    );
                }
                Arg::Identifier(token.pos, token.val)
            }
            ItemType::Dot => Arg::Dot(token.pos),
            ItemType::Nil => Arg::Nil(token.pos),
            ItemType::Variable => {
                if !self.vars.contains(&token.val) {
                    return Err(
                        self.errorf(format!("undefined variable {}", gofmt::quote(&token.val)))
                    );
                }
                Arg::Variable(token.pos, vec![token.val])
            }
            ItemType::Field => Arg::Field(token.pos, vec![token.val[1..].to_string()]),
            ItemType::Bool => Arg::Bool(token.pos, token.val == "true"),
            ItemType::CharConstant | ItemType::Number => {
                let number = new_number(&token.val, token.typ).map_err(|e| self.errorf(e))?;
                Arg::Number(token.pos, number)
            }
            ItemType::LeftParen => {
                self.enter()?;
                let pipe = self.pipeline("parenthesized pipeline", ItemType::RightParen)?;
                self.depth -= 1;
                Arg::Pipe(pipe)
            }
            ItemType::String | ItemType::RawString => {
                let text = unquote(&token.val).map_err(|e| self.errorf(e))?;
                Arg::String(token.pos, token.val, text)
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

/// Go's `strconv.Unquote` for the three literal forms the lexer produces.
pub(crate) fn unquote(s: &str) -> Result<String, String> {
    let invalid = || "invalid syntax".to_string();
    if let Some(raw) = s.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        return Ok(raw.replace('\r', ""));
    }
    let (quote, body) = if let Some(b) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        ('"', b)
    } else if let Some(b) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        ('\'', b)
    } else {
        return Err(invalid());
    };
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == quote {
            return Err(invalid());
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or_else(invalid)?;
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '\'' if quote == '\'' => out.push('\''),
            '"' if quote == '"' => out.push('"'),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| chars.next()).collect();
                if hex.len() != n {
                    return Err(invalid());
                }
                let v = u32::from_str_radix(&hex, 16).map_err(|_| invalid())?;
                if e == 'x' {
                    // A byte; only ASCII bytes make valid UTF-8 on their own.
                    out.push(char::from_u32(v).filter(|_| v < 0x80).ok_or_else(invalid)?);
                } else {
                    out.push(char::from_u32(v).ok_or_else(invalid)?);
                }
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = chars
                        .next()
                        .and_then(|c| c.to_digit(8))
                        .ok_or_else(invalid)?;
                    v = v * 8 + d;
                }
                if v >= 0x80 {
                    return Err(invalid());
                }
                out.push(char::from_u32(v).ok_or_else(invalid)?);
            }
            _ => return Err(invalid()),
        }
    }
    if quote == '\'' && out.chars().count() != 1 {
        return Err(invalid());
    }
    Ok(out)
}

/// Go's `parse.newNumber`: which of int, uint and float64 the literal can be.
fn new_number(text: &str, typ: ItemType) -> Result<Number, String> {
    let mut n = Number {
        text: text.to_string(),
        int: None,
        uint: None,
        float: None,
        is_float_literal: false,
    };
    if typ == ItemType::CharConstant {
        let s = unquote(text)?;
        let c = s
            .chars()
            .next()
            .ok_or_else(|| format!("malformed character constant: {text}"))?;
        let v = c as u32;
        n.int = Some(i64::from(v));
        n.uint = Some(u64::from(v));
        n.float = Some(f64::from(v));
        return Ok(n);
    }
    if text.ends_with('i') {
        return Err(format!("illegal number syntax: {}", gofmt::quote(text)));
    }
    let clean = text.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let parsed_uint = if let Some(h) = lower.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        u64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        u64::from_str_radix(&lower[1..], 8).ok()
    } else {
        lower.parse::<u64>().ok()
    };
    if let Some(u) = parsed_uint {
        if neg {
            if u <= i64::MAX as u64 + 1 {
                n.int = Some((u as i128).wrapping_neg() as i64);
            }
        } else {
            n.uint = Some(u);
            if u <= i64::MAX as u64 {
                n.int = Some(u as i64);
            }
        }
    }
    let is_hex = lower.starts_with("0x");
    if let Some(i) = n.int {
        n.float = Some(i as f64);
    } else if let Some(u) = n.uint {
        n.float = Some(u as f64);
    } else {
        let f = if is_hex {
            parse_hex_float(&lower)
        } else {
            lower.parse::<f64>().ok()
        };
        if let Some(f) = f.filter(|f| f.is_finite()) {
            if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                return Err(format!("integer overflow: {}", gofmt::quote(text)));
            }
            let f = if neg { -f } else { f };
            n.float = Some(f);
            // A float with an integral value also works as an int, as in Go.
            if f == f.trunc() && f.abs() < 9.2e18 {
                n.int = Some(f as i64);
                if f >= 0.0 {
                    n.uint = Some(f as u64);
                }
            }
        }
    }
    if n.int.is_none() && n.uint.is_none() && n.float.is_none() {
        return Err(format!("illegal number syntax: {}", gofmt::quote(text)));
    }
    let is_hex_int = is_hex && !lower.contains('p');
    n.is_float_literal =
        n.float.is_some() && !is_hex_int && text.contains(['.', 'e', 'E', 'p', 'P']);
    Ok(n)
}

fn parse_hex_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix("0x")?;
    let (mantissa, exp) = match body.split_once('p') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (body, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut v = 0f64;
    for c in int_part.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}
