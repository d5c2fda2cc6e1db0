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
