# What every reference script needs: the folder it lives in, the small data sets that
# export_data.py wrote to data/, and HSB as the book's load_hsb builds it (meanses = school
# mean of SES, cses = SES - meanses, sector = 1 for Catholic schools).
# Each script starts with: source(file.path(<its folder>, "common.R")).
read <- function(name) read.csv(file.path(here, "data", paste0(name, ".csv")), stringsAsFactors = TRUE)

students <- nlme::MathAchieve
schools <- nlme::MathAchSchool
hsb <- data.frame(school = as.integer(as.character(students$School)),
                  ses = students$SES, mathach = students$MathAch)
hsb$sector <- as.integer(schools$Sector[match(hsb$school, as.integer(as.character(schools$School)))]
                         == "Catholic")
hsb$meanses <- ave(hsb$ses, hsb$school)
hsb$cses <- hsb$ses - hsb$meanses

# The reference models by name, as tests/toolkit/reference/models.py lists them for Python:
# each script fits the ones it needs with reference_model(name).
sleepstudy <- read("sleepstudy")
orthodont <- read("Orthodont")
reference_models <- list(
  hsb_intercept = list(data = hsb, formula = mathach ~ 1 + (1 | school), group = "school"),
  hsb_slope = list(data = hsb, formula = mathach ~ cses + (1 + cses | school), group = "school"),
  hsb_outcomes = list(data = hsb, group = "school",
                      formula = mathach ~ meanses + sector + cses + meanses:cses + sector:cses + (1 + cses | school)),
  sleepstudy = list(data = sleepstudy, formula = Reaction ~ Days + (Days | Subject), group = "Subject"),
  sleepstudy_uncorrelated = list(data = sleepstudy, formula = Reaction ~ Days + (Days || Subject), group = "Subject"),
  orthodont = list(data = orthodont, formula = distance ~ age + (1 | Subject), group = "Subject"),
  orthodont_sex = list(data = orthodont, formula = distance ~ age + Sex + (1 | Subject), group = "Subject")
)
reference_model <- function(name) c(list(name = name), reference_models[[name]])
# the pair of coefficients each model's joint F-test (Satterthwaite, Kenward-Roger) tests as zero
joint_tests <- list(hsb_slope = c("(Intercept)", "cses"), hsb_outcomes = c("sector", "sector:cses"),
                    sleepstudy = c("(Intercept)", "Days"), sleepstudy_uncorrelated = c("(Intercept)", "Days"),
                    orthodont_sex = c("age", "SexMale"))

# The longitudinal data sets: Fox's Blackmore model (log2(exercise + 5/60), time = age - 8)
# and Orthodont sorted by child and age, as error structures over time need them.
blackmore <- read("Blackmore")
blackmore$log_exercise <- log2(blackmore$exercise + 5 / 60)
blackmore$time <- blackmore$age - 8
orthodont_by_age <- orthodont[order(orthodont$Subject, orthodont$age), ]

# Results in long form (model, method, kind, name, value at 17 digits): add() collects the rows,
# write_long() writes them with a first line naming the script, R's and nlme's versions and the date.
long_rows <- list()
add <- function(model, method, kind, name, value) {
  long_rows[[length(long_rows) + 1]] <<- data.frame(model = model, method = method, kind = kind, name = name,
                                                    value = format(value, digits = 17))
}
write_long <- function(script) {
  out <- do.call(rbind, long_rows)
  con <- file(file.path(here, sub("\\.R$", ".csv", script)), "w")
  writeLines(sprintf("# made by %s with %s, nlme %s, %s", script, R.version.string, packageVersion("nlme"),
                     format(Sys.Date())), con)
  write.csv(out, con, row.names = FALSE)
  close(con)
  cat("wrote", nrow(out), "rows\n")
}
